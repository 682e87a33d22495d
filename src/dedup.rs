//! Deduplication: every copy of one request carries the same dedup key; the stored identity is
//! a 64-bit hash of the tool and that key ([`key_hash`]), and when two copies meet, the event's
//! [`Merge`](crate::event::Merge) rule says which one stays ([`Merge::replaces`]).
//!
//! [`merge`] applies the rule among the events of one parsed batch, on the parse side, so the
//! store sees one record per request per batch (streaming snapshots arrive in bursts); the store
//! applies the same rule against what it already holds.
//!
//! [`Merge::replaces`]: crate::event::Merge::replaces

use crate::event::UsageEvent;
use std::collections::HashMap;

/// The stored identity of a request: a 64-bit hash of the tool and the parser's dedup key
/// (FNV-1a; collisions are negligible at millions of requests and keep the unique index small).
pub fn key_hash(tool: &str, key: &str) -> i64 {
    use crate::tailer::{fnv1a_on, FNV1A_START};
    // The parts in a row, not joined into one string first.
    let h = fnv1a_on(fnv1a_on(FNV1A_START, tool.as_bytes()), &[0]);
    fnv1a_on(h, key.as_bytes()) as i64
}

/// The stored identity of an event: [`key_hash`] of its tool and dedup key, or, for a request
/// read from an export file, the key hash it carries (export files hold the hash, not the key).
pub fn identity(ev: &UsageEvent) -> i64 {
    match &ev.recorded {
        Some(r) => r.key_hash,
        None => key_hash(&ev.tool, &ev.dedup_key),
    }
}

/// Dedup keys arrive already hashed ([`key_hash`]): spread the bits, skip SipHash.
type KeyHashState = crate::tailer::PreHashed;

/// Applies each event's merge rule among events that share a dedup key: one event per request,
/// in the order each request was first seen.
pub fn merge(events: Vec<UsageEvent>) -> Vec<UsageEvent> {
    let mut out: Vec<UsageEvent> = Vec::with_capacity(events.len());
    let mut at: HashMap<i64, usize, KeyHashState> =
        HashMap::with_capacity_and_hasher(events.len(), KeyHashState::default());
    for ev in events {
        let h = identity(&ev);
        match at.get(&h) {
            None => {
                at.insert(h, out.len());
                out.push(ev);
            }
            Some(&i) => {
                // Two lines of one export file for the same request: the higher change number
                // is the newer state (the store applies the same rule against what it holds).
                let newer = match (&out[i].recorded, &ev.recorded) {
                    (Some(a), Some(b)) if a.machine == b.machine => Some(b.rev > a.rev),
                    _ => None,
                };
                let o = &out[i];
                let at =
                    |e: &UsageEvent| (e.timestamp_ms, e.session_id.clone().unwrap_or_default());
                let (oa, na) = (at(o), at(&ev));
                if newer.unwrap_or_else(|| {
                    ev.merge
                        .replaces_at(&o.tokens, (oa.0, &oa.1), &ev.tokens, (na.0, &na.1))
                }) {
                    out[i] = ev;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Export files carry the key hash as the identity of a request, so every machine and every
    /// version must compute the same value: these are pinned.
    #[test]
    fn key_hash_is_stable() {
        assert_eq!(key_hash("", ""), 0xaf63bd4c8601b7df_u64 as i64);
        assert_eq!(
            format!("{:016x}", key_hash("claude-code", "msg_01:req_01") as u64),
            "16af677a90fafe98"
        );
        assert_eq!(
            format!(
                "{:016x}",
                key_hash(
                    "codex",
                    "019a0201-0001-7000-8201-b12f17302927:2026-11-23T03:37:52.360Z:125856:93056:2655:743:é"
                ) as u64
            ),
            "1e6d9a14d66ec195"
        );
    }
}
