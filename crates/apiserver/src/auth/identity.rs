//! Who a request comes from, once its bearer token is checked.

#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    Anonymous,
    Admin,
    Bootstrap(String),
    Node(String),
    /// Authenticated by a service-account token (auth::sa_token).
    ServiceAccount {
        ns: String,
        name: String,
        uid: String,
    },
}

impl Identity {
    pub fn username(&self) -> String {
        match self {
            Identity::Anonymous => "system:anonymous".into(),
            Identity::Admin => "kubernetes-admin".into(),
            Identity::Bootstrap(id) => format!("system:bootstrap:{id}"),
            Identity::Node(n) => format!("system:node:{n}"),
            Identity::ServiceAccount { ns, name, .. } => format!("system:serviceaccount:{ns}:{name}"),
        }
    }
    /// The groups the real authenticators give the same caller.
    pub fn groups(&self) -> Vec<String> {
        let mut g: Vec<String> = match self {
            Identity::Anonymous => return vec!["system:unauthenticated".into()],
            Identity::Admin => vec!["system:masters".into()],
            Identity::Bootstrap(_) => vec!["system:bootstrappers".into()],
            Identity::Node(_) => vec!["system:nodes".into()],
            Identity::ServiceAccount { ns, .. } => {
                vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                ]
            }
        };
        g.push("system:authenticated".into());
        g
    }
}
