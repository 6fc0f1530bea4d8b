//! `search`: the distribution API has no search, so this lists the
//! registry's `/v2/_catalog` (paged with `n`/`last`, token scope
//! `registry:catalog:*`) and keeps the repositories containing the term.

use super::{RegistryError, Session};

/// Page size asked of the registry.
const PAGE: usize = 100;

/// Repositories of `s` whose name contains `term` (all when empty), sorted,
/// at most `limit`.
pub async fn search(s: &Session, term: &str, limit: usize) -> Result<Vec<String>, RegistryError> {
    let scopes = vec!["registry:catalog:*".to_string()];
    let what = format!("{}/v2/_catalog", s.registry);
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let url = format!("{}/v2/_catalog", s.base);
        let mut q: Vec<(&str, String)> = vec![("n", PAGE.to_string())];
        if let Some(l) = &last {
            q.push(("last", l.clone()));
        }
        let r = s
            .send(&scopes, &what, |h| {
                let mut b = s.http.get(&url).query(&q);
                if let Some(h) = h {
                    b = b.header("Authorization", h);
                }
                b
            })
            .await?;
        let status = r.status().as_u16();
        let more = r.headers().contains_key(reqwest::header::LINK);
        let body = r.bytes().await.map_err(|e| RegistryError::Transfer {
            what: what.clone(),
            detail: e.to_string(),
        })?;
        if status != 200 {
            return Err(RegistryError::Protocol {
                what,
                detail: format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
                ),
            });
        }
        let page = parse_page(&body).map_err(|detail| RegistryError::Protocol {
            what: what.clone(),
            detail,
        })?;
        let n = page.len();
        last = page.last().cloned();
        out.extend(page.into_iter().filter(|r| matches(r, term)));
        if !more || n == 0 || out.len() >= limit {
            break;
        }
    }
    out.sort();
    out.truncate(limit);
    Ok(out)
}

fn parse_page(body: &[u8]) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let repos = v
        .get("repositories")
        .and_then(|r| r.as_array())
        .ok_or("no \"repositories\" array")?;
    Ok(repos
        .iter()
        .filter_map(|r| r.as_str().map(String::from))
        .collect())
}

/// Case-insensitive substring match, as `podman search` filters names.
pub fn matches(repo: &str, term: &str) -> bool {
    repo.to_ascii_lowercase()
        .contains(&term.to_ascii_lowercase())
}

/// `REGISTRY/TERM` → (registry, term); a bare word is a term on docker.io.
pub fn split_query(q: &str) -> (String, String) {
    match q.split_once('/') {
        Some((reg, term)) if reg.contains('.') || reg.contains(':') || reg == "localhost" => {
            (reg.to_string(), term.to_string())
        }
        _ => (
            crate::reference::DEFAULT_REGISTRY.to_string(),
            q.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_split_like_references() {
        assert_eq!(
            split_query("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000".into(), "busy".into())
        );
        assert_eq!(split_query("localhost/"), ("localhost".into(), "".into()));
        assert_eq!(
            split_query("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_query("quay.io/team/app"),
            ("quay.io".into(), "team/app".into())
        );
    }

    #[test]
    fn pages_parse_and_terms_match() {
        assert_eq!(
            parse_page(br#"{"repositories":["a/b","c"]}"#).unwrap(),
            vec!["a/b", "c"]
        );
        assert!(parse_page(b"{}").is_err());
        assert!(matches("team/BusyBox", "busy"));
        assert!(matches("x", ""));
        assert!(!matches("alpine", "busy"));
    }
}
