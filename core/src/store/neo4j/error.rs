//! Driver errors as store errors.

use crate::store::StoreError;

/// Neo4j's status code for a violated uniqueness constraint.
const CONSTRAINT_VIOLATION: &str = "Neo.ClientError.Schema.ConstraintValidationFailed";

impl From<neo4rs::Error> for StoreError {
    fn from(e: neo4rs::Error) -> Self {
        match &e {
            // Existence is checked before every insert; this only catches a concurrent writer.
            neo4rs::Error::Neo4j(server) if server.code() == CONSTRAINT_VIOLATION => {
                StoreError::Conflict(server.message().to_owned())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

impl From<neo4rs::DeError> for StoreError {
    fn from(e: neo4rs::DeError) -> Self {
        StoreError::Backend(format!("unexpected value from Neo4j: {e}"))
    }
}
