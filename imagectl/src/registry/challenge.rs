//! `WWW-Authenticate` challenges (RFC 7235) as registries send them:
//! `Basic realm="..."` or `Bearer realm="https://auth",service="reg",
//! scope="repository:a:pull",error="insufficient_scope"`. Pure parsing;
//! the token request itself is in [`super::client`].

use std::collections::BTreeMap;

/// One challenge: its scheme (lowercased) and parameters (names lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge in a header value; malformed tails are dropped.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_ws_commas();
        let Some(tok) = p.token() else { break };
        p.skip_ws();
        // `name=` starts a parameter of the current challenge; a bare token
        // starts a new challenge.
        if p.peek() == Some(b'=') && !out.is_empty() {
            p.i += 1;
            p.skip_ws();
            let Some(v) = p.value() else { break };
            if let Some(c) = out.last_mut() {
                c.params.insert(tok.to_ascii_lowercase(), v);
            }
            continue;
        }
        out.push(Challenge {
            scheme: tok.to_ascii_lowercase(),
            params: BTreeMap::new(),
        });
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c) {
                self.i += 1;
            } else {
                break;
            }
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn value(&mut self) -> Option<String> {
        if self.peek() != Some(b'"') {
            return self.token();
        }
        self.i += 1;
        let mut v = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => return Some(String::from_utf8_lossy(&v).into_owned()),
                b'\\' => {
                    if let Some(n) = self.peek() {
                        v.push(n);
                        self.i += 1;
                    }
                }
                _ => v.push(c),
            }
        }
        None
    }
}

/// The challenge to answer: Bearer over Basic when both are offered.
pub fn pick(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges
        .iter()
        .find(|c| c.scheme == "bearer")
        .or_else(|| challenges.iter().find(|c| c.scheme == "basic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_params() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:library/busybox:pull,push")
        );
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn several_challenges_and_escapes() {
        let c = parse(r#"Basic realm="a \"b\"", Bearer realm=x,  service="s""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("realm"), Some(r#"a "b""#));
        assert_eq!(c[1].param("realm"), Some("x"));
        assert_eq!(pick(&c).unwrap().scheme, "bearer");
        assert_eq!(pick(&parse("Basic realm=\"r\"")).unwrap().scheme, "basic");
        assert!(pick(&parse("Negotiate")).is_none());
        assert!(parse("").is_empty());
        assert_eq!(parse("Bearer realm=\"unterminated")[0].params.len(), 0);
    }
}
