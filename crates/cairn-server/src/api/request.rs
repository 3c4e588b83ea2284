//! What every API request needs: its caller (token, grant, database) and its query string.

use std::sync::Arc;

use axum::http::HeaderMap;
use cairn_model::Key;
use cairn_store::Database;

use super::keys::key_from_text;
use super::JsonError;
use crate::auth::Grant;
use crate::config::Access;
use crate::error::ApiError;
use crate::App;

/// An authenticated request to one database.
pub(crate) struct Caller {
    pub app: Arc<App>,
    pub name: String,
    pub db: Database,
    pub grant: Grant,
}

impl Caller {
    /// Checks the bearer token against database `name` and opens it. The API never creates a
    /// database implicitly (`PUT /databases/{db}` does): a missing one is 404.
    pub(crate) async fn open(
        app: Arc<App>,
        headers: &HeaderMap,
        name: &str,
    ) -> Result<Caller, JsonError> {
        let grant = grant(&app, headers, name)?;
        if !app.registry.contains(name) {
            return Err(ApiError::NotFound(format!(
                "database {name:?} does not exist (create it with PUT /api/v1/databases/{name})"
            ))
            .into());
        }
        let db = app.registry.get(name, grant.access).await?;
        Ok(Caller {
            app,
            name: name.to_owned(),
            db,
            grant,
        })
    }

    /// Refuses a read-only token.
    pub(crate) fn require_write(&self) -> Result<(), JsonError> {
        match self.grant.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(ApiError::Forbidden(format!(
                "a read-only token cannot write to database {:?}",
                self.name
            ))
            .into()),
        }
    }
}

/// The grant of the request's bearer token on database `name`: 401 for no or an unknown
/// token, 403 for a token whose grant does not name the database.
pub(crate) fn grant(app: &App, headers: &HeaderMap, name: &str) -> Result<Grant, JsonError> {
    crate::registry::validate_name(name)?;
    let token = crate::routes::bearer(headers)?;
    match app.auth.access_token(token, name) {
        Some(grant) => Ok(grant),
        None if app.auth.knows(token) => {
            Err(ApiError::Forbidden(format!("this token does not open database {name:?}")).into())
        }
        None => Err(ApiError::Unauthorized("unknown access token").into()),
    }
}

/// A query string, parsed once; every parameter must be one the route knows.
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `raw` (the part after `?`), refusing parameters not in `known`.
    pub(crate) fn parse(raw: Option<&str>, known: &[&str]) -> Result<Query, JsonError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((unknown, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown query parameter {unknown:?} (this route takes: {})",
                known.join(", ")
            )));
        }
        Ok(Query { pairs })
    }

    /// Every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of `name`, if given; given twice is an error.
    pub(crate) fn one(&self, name: &str) -> Result<Option<&str>, JsonError> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(bad(format!(
                "query parameter {name:?} given more than once"
            ))),
        }
    }

    /// A required key parameter.
    pub(crate) fn key(&self, name: &str) -> Result<Key, JsonError> {
        let text = self.one(name)?.ok_or_else(|| {
            bad(format!(
                "missing query parameter {name:?} (a key as a JSON array)"
            ))
        })?;
        Ok(key_from_text(text, name)?)
    }

    /// An optional key parameter.
    pub(crate) fn optional_key(&self, name: &str) -> Result<Option<Key>, JsonError> {
        match self.one(name)? {
            None => Ok(None),
            Some(text) => Ok(Some(key_from_text(text, name)?)),
        }
    }

    /// A boolean parameter: `true`/`false` (`1`/`0`); absent is false.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, JsonError> {
        match self.one(name)? {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(bad(format!(
                "query parameter {name:?} must be true or false, not {other:?}"
            ))),
        }
    }

    /// An integer parameter within `min..=max`; `default` when absent.
    pub(crate) fn integer(
        &self,
        name: &str,
        default: u64,
        (min, max): (u64, u64),
    ) -> Result<u64, JsonError> {
        let Some(text) = self.one(name)? else {
            return Ok(default);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "query parameter {name:?} must be an integer from {min} to {max}, not {text:?}"
            ))),
        }
    }
}

/// A 400 with `reason`.
pub(crate) fn bad(reason: impl Into<String>) -> JsonError {
    JsonError(ApiError::BadRequest(reason.into()))
}
