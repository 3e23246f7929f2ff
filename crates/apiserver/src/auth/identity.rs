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
    /// Any other user, as an impersonation header or a SubjectAccessReview
    /// names it: its own groups (system:authenticated included) decide.
    User {
        name: String,
        groups: Vec<String>,
    },
}

/// The group whose members may do anything (the real server's
/// privileged group, bound to cluster-admin).
pub const MASTERS: &str = "system:masters";

impl Identity {
    pub fn username(&self) -> String {
        match self {
            Identity::Anonymous => "system:anonymous".into(),
            Identity::Admin => "kubernetes-admin".into(),
            Identity::Bootstrap(id) => format!("system:bootstrap:{id}"),
            Identity::Node(n) => format!("system:node:{n}"),
            Identity::ServiceAccount { ns, name, .. } => format!("system:serviceaccount:{ns}:{name}"),
            Identity::User { name, .. } => name.clone(),
        }
    }
    /// The groups the real authenticators give the same caller.
    pub fn groups(&self) -> Vec<String> {
        let mut g: Vec<String> = match self {
            Identity::Anonymous => return vec!["system:unauthenticated".into()],
            Identity::User { groups, .. } => return groups.clone(),
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

impl Identity {
    /// The caller a user name and groups stand for, as the real server
    /// reads them from impersonation headers or a SubjectAccessReview: a
    /// service account's name gives that account (with its groups when none
    /// are named), a node's name in group system:nodes gives that node, and
    /// any other name a plain user. `uid` is the account's, when known.
    pub fn from_user_info(name: &str, groups: &[String], uid: &str) -> Identity {
        if let Some((ns, sa)) = name
            .strip_prefix("system:serviceaccount:")
            .and_then(|r| r.split_once(':'))
        {
            if groups.is_empty() && !ns.is_empty() && !sa.is_empty() && !sa.contains(':') {
                return Identity::ServiceAccount {
                    ns: ns.into(),
                    name: sa.into(),
                    uid: uid.into(),
                };
            }
        }
        if let Some(node) = name.strip_prefix("system:node:") {
            if groups.iter().any(|g| g == "system:nodes") && !node.is_empty() {
                return Identity::Node(node.into());
            }
        }
        if name == "system:anonymous" && groups.is_empty() {
            return Identity::Anonymous;
        }
        let mut all = groups.to_vec();
        let authenticated = "system:authenticated";
        if name != "system:anonymous" && !all.iter().any(|g| g == authenticated) {
            all.push(authenticated.into());
        }
        Identity::User {
            name: name.into(),
            groups: all,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_names_accounts_nodes_and_users() {
        let sa = Identity::from_user_info("system:serviceaccount:ns:bot", &[], "u1");
        assert_eq!(sa.username(), "system:serviceaccount:ns:bot");
        assert!(sa.groups().contains(&"system:serviceaccounts:ns".to_string()));
        let node = Identity::from_user_info("system:node:n1", &["system:nodes".into()], "");
        assert_eq!(node, Identity::Node("n1".into()));
        // Without the group a node name is only a user name.
        assert!(matches!(
            Identity::from_user_info("system:node:n1", &[], ""),
            Identity::User { .. }
        ));
        let u = Identity::from_user_info("jane", &["dev".into()], "");
        assert_eq!(u.groups(), ["dev", "system:authenticated"]);
    }
}
