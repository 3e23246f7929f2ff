use std::fmt;

/// Errors from this crate name the operation that failed, so a caller several
/// layers up still prints "creating veth n1 in lab ns: File exists".
#[derive(Debug)]
pub enum Error {
    /// The kernel refused a request.
    Kernel { op: String, errno: nix::errno::Errno },
    /// The socket itself failed (open, send, receive).
    Io { op: String, source: std::io::Error },
    /// A reply we could not make sense of.
    Decode { op: String, detail: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error().map(nix::errno::Errno::from_raw),
            Error::Decode { .. } => None,
        }
    }

    pub(crate) fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            op: op.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel { op, errno } => write!(f, "{op}: {}", errno.desc()),
            Error::Io { op, source } => write!(f, "{op}: {source}"),
            Error::Decode { op, detail } => write!(f, "{op}: cannot decode reply: {detail}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
