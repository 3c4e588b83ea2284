//! A small etcd v3 client over etcd's JSON gateway (`/v3/...`, served by etcd 3.4 on its
//! client URLs): leases, ranges, transactions. Keys and values travel base64-encoded, 64-bit
//! integers as decimal strings. Each call tries the endpoints in turn (starting with the one
//! that answered last), the whole call bounded by the retry timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::limits::{FAILOVER_ETCD_ATTEMPT_MS_MIN, FAILOVER_ETCD_RESPONSE_BYTES_MAX};

/// Why an etcd call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    /// No endpoint answered within the retry timeout.
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
    /// An endpoint answered something this client does not understand.
    #[error("etcd answered unexpectedly: {0}")]
    Protocol(String),
}

/// One key as etcd holds it.
#[derive(Debug, Clone)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The revision that created the key (0: absent).
    pub create_revision: i64,
    /// The revision that last changed it.
    pub mod_revision: i64,
    /// The lease it is attached to (0: none).
    pub lease: i64,
}

/// A comparison of a transaction.
pub enum Compare<'a> {
    /// The key's create revision equals (0: the key does not exist).
    CreateRevision(&'a [u8], i64),
    /// The key's mod revision equals (0: the key does not exist).
    ModRevision(&'a [u8], i64),
}

/// A client of an etcd cluster.
pub struct Etcd {
    endpoints: Vec<String>,
    /// The endpoint that answered last: tried first.
    current: AtomicUsize,
    timeout: Duration,
    client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Etcd {
    /// A client of the cluster at `endpoints` (`http://host:port`), each call bounded by
    /// `timeout`.
    pub fn new(endpoints: Vec<String>, timeout: Duration) -> Etcd {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        Etcd {
            endpoints: endpoints
                .into_iter()
                .map(|e| e.trim_end_matches('/').to_owned())
                .collect(),
            current: AtomicUsize::new(0),
            timeout,
            client: hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }

    /// POSTs `body` to `path` on the endpoints in turn until one answers 200.
    async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let n = self.endpoints.len().max(1);
        let deadline = Instant::now() + self.timeout;
        let attempt =
            (self.timeout / n as u32).max(Duration::from_millis(FAILOVER_ETCD_ATTEMPT_MS_MIN));
        let first = self.current.load(Ordering::Relaxed);
        let body = Bytes::from(body.to_string());
        let mut errors = Vec::new();
        for i in 0..n {
            let index = (first + i) % n;
            let Some(endpoint) = self.endpoints.get(index) else {
                break;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                errors.push(format!("{endpoint}: no time left"));
                break;
            }
            let url = format!("{endpoint}{path}");
            match tokio::time::timeout(attempt.min(left), self.post(&url, body.clone())).await {
                Ok(Ok(value)) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(value);
                }
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push(format!("{url}: no answer within {:?}", attempt.min(left))),
            }
        }
        // Next call starts with the next endpoint.
        self.current.store((first + 1) % n, Ordering::Relaxed);
        Err(EtcdError::Unavailable(errors.join("; ")))
    }

    async fn post(&self, url: &str, body: Bytes) -> Result<Value, String> {
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("{url}: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), FAILOVER_ETCD_RESPONSE_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| format!("{url}: reading the answer: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "{url}: {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// Grants a lease of `ttl_s` seconds; its id.
    pub async fn grant(&self, ttl_s: u64) -> Result<i64, EtcdError> {
        let answer = self
            .call("/v3/lease/grant", json!({ "TTL": ttl_s }))
            .await?;
        int(&answer["ID"]).ok_or_else(|| protocol("lease grant without an ID", &answer))
    }

    /// Renews lease `id`; the TTL it has now (0: the lease no longer exists).
    pub async fn keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        let answer = self
            .call("/v3/lease/keepalive", json!({ "ID": id.to_string() }))
            .await?;
        let result = &answer["result"];
        if result.is_null() {
            return Err(protocol("keepalive without a result", &answer));
        }
        Ok(int(&result["TTL"]).unwrap_or(0))
    }

    /// Revokes lease `id` (its keys are deleted).
    pub async fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", json!({ "ID": id.to_string() }))
            .await
            .map(|_| ())
    }

    /// The key `key`, if it exists.
    pub async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, EtcdError> {
        let answer = self
            .call("/v3/kv/range", json!({ "key": B64.encode(key) }))
            .await?;
        Ok(kvs(&answer)?.into_iter().next())
    }

    /// Every key that starts with `prefix`.
    pub async fn prefix(&self, prefix: &[u8]) -> Result<Vec<KeyValue>, EtcdError> {
        let answer = self
            .call(
                "/v3/kv/range",
                json!({ "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) }),
            )
            .await?;
        kvs(&answer)
    }

    /// Puts `key` = `value`, attached to `lease` (0: none).
    pub async fn put(&self, key: &[u8], value: &[u8], lease: i64) -> Result<(), EtcdError> {
        self.call("/v3/kv/put", put(key, value, lease))
            .await
            .map(|_| ())
    }

    /// Puts every `(key, value, lease)` of `puts` if every comparison holds; whether they
    /// held.
    pub async fn txn(
        &self,
        compares: &[Compare<'_>],
        puts: &[(&[u8], &[u8], i64)],
    ) -> Result<bool, EtcdError> {
        let compare: Vec<Value> = compares
            .iter()
            .map(|c| match c {
                Compare::CreateRevision(key, revision) => json!({
                    "key": B64.encode(key), "target": "CREATE", "result": "EQUAL",
                    "create_revision": revision.to_string(),
                }),
                Compare::ModRevision(key, revision) => json!({
                    "key": B64.encode(key), "target": "MOD", "result": "EQUAL",
                    "mod_revision": revision.to_string(),
                }),
            })
            .collect();
        let success: Vec<Value> = puts
            .iter()
            .map(|(k, v, lease)| json!({ "request_put": put(k, v, *lease) }))
            .collect();
        let answer = self
            .call(
                "/v3/kv/txn",
                json!({ "compare": compare, "success": success }),
            )
            .await?;
        Ok(answer["succeeded"].as_bool().unwrap_or(false))
    }
}

fn put(key: &[u8], value: &[u8], lease: i64) -> Value {
    let mut put = json!({ "key": B64.encode(key), "value": B64.encode(value) });
    if lease != 0 {
        put["lease"] = json!(lease.to_string());
    }
    put
}

fn protocol(what: &str, answer: &Value) -> EtcdError {
    EtcdError::Protocol(format!("{what}: {answer}"))
}

/// etcd's 64-bit integers come as strings; absent means 0 (proto3 defaults are omitted).
fn int(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn kvs(answer: &Value) -> Result<Vec<KeyValue>, EtcdError> {
    let Some(list) = answer["kvs"].as_array() else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|kv| {
            let bytes = |field: &str| match kv[field].as_str() {
                None => Ok(Vec::new()),
                Some(s) => B64
                    .decode(s)
                    .map_err(|e| protocol(&format!("{field} is not base64 ({e})"), kv)),
            };
            Ok(KeyValue {
                key: bytes("key")?,
                value: bytes("value")?,
                create_revision: int(&kv["create_revision"]).unwrap_or(0),
                mod_revision: int(&kv["mod_revision"]).unwrap_or(0),
                lease: int(&kv["lease"]).unwrap_or(0),
            })
        })
        .collect()
}

/// The first key after every key that starts with `prefix` (etcd's `range_end`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_after_its_last_key() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff]), vec![0]);
    }

    #[test]
    fn integers_come_as_strings_or_are_absent() {
        assert_eq!(
            int(&json!("7587899326593109255")),
            Some(7587899326593109255)
        );
        assert_eq!(int(&json!(3)), Some(3));
        assert_eq!(int(&Value::Null), None);
        let answer = json!({"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"3","value":"Yg==","lease":"9"}]});
        let kv = &kvs(&answer).expect("decoded")[0];
        assert_eq!(
            (kv.key.as_slice(), kv.value.as_slice()),
            (&b"a"[..], &b"b"[..])
        );
        assert_eq!((kv.create_revision, kv.mod_revision, kv.lease), (2, 3, 9));
        assert!(kvs(&json!({"count":"0"})).expect("decoded").is_empty());
    }
}
