//! The app's data model, read from its own definitions.

pub mod drizzle;
pub mod migrations;
pub mod ownership;
pub mod prisma;
pub mod sql;

/// Columns a client must never set: identity, ownership, privilege, billing and bookkeeping.
/// Matched on the column's property name, case- and underscore-insensitively.
pub fn is_privileged_column(name: &str) -> bool {
    let k: String = name
        .chars()
        .filter(|c| *c != '_')
        .flat_map(|c| c.to_lowercase())
        .collect();
    matches!(
        k.as_str(),
        "id" | "userid"
            | "ownerid"
            | "authorid"
            | "createdby"
            | "updatedby"
            | "role"
            | "roles"
            | "isadmin"
            | "admin"
            | "issuperuser"
            | "plan"
            | "tier"
            | "credits"
            | "balance"
            | "createdat"
            | "updatedat"
            | "deletedat"
            | "emailverified"
            | "isverified"
    ) || k.starts_with("stripe")
        || k.contains("subscription")
}

#[cfg(test)]
mod tests {
    use super::is_privileged_column;

    #[test]
    fn privileged_columns() {
        for c in [
            "id",
            "userId",
            "user_id",
            "ownerId",
            "isAdmin",
            "stripeCustomerId",
            "subscriptionStatus",
            "createdAt",
            "credits",
        ] {
            assert!(is_privileged_column(c), "{c}");
        }
        for c in ["title", "content", "name", "bio", "identity", "planet"] {
            assert!(!is_privileged_column(c), "{c}");
        }
    }
}
