//! Who a request comes from, once its bearer token is checked.

#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    Anonymous,
    Admin,
    Bootstrap(String),
    Node(String),
}

impl Identity {
    pub fn username(&self) -> String {
        match self {
            Identity::Anonymous => "system:anonymous".into(),
            Identity::Admin => "kubernetes-admin".into(),
            Identity::Bootstrap(id) => format!("system:bootstrap:{id}"),
            Identity::Node(n) => format!("system:node:{n}"),
        }
    }
}
