//! One connection to one registry: transport choice (https, or plain http
//! where docker allows it), TLS roots, the `/v2/` probe and its
//! `WWW-Authenticate` challenge, and answering it (Basic, or Bearer tokens
//! per scope set, cached for the session). The distribution calls
//! themselves go through [`oci_client::Client`], which this session
//! prepares with the right credentials before each repository operation;
//! what oci-client lacks (choosing the scheme, a token for several scopes,
//! a settable chunk size, the catalog scope) is done here with the same
//! reqwest stack.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference as OciRef, RegistryOperation};
use tokio::sync::Mutex;

use super::auth::Credentials;
use super::challenge::{self, Challenge};
use super::RegistryError;

/// How to reach registries: the flags every registry verb shares.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// `None`: verify, except that loopback registries may also be reached
    /// over plain http (as docker treats 127.0.0.0/8 and localhost).
    /// `Some(false)`: skip verification and allow plain http anywhere.
    pub tls_verify: Option<bool>,
    /// Extra trusted roots (a PEM bundle).
    pub ca_bundle: Option<PathBuf>,
}

/// Whether docker would treat `registry` (`host[:port]`) as insecure by
/// default: `localhost`, 127.0.0.0/8 and ::1.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host the API is served on: docker.io's is index.docker.io.
pub fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    }
}

/// Splits a PEM bundle into single certificates (reqwest's `from_pem`
/// reads only the first one).
pub fn split_pem(bundle: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = bundle;
    while let Some(b) = rest.find(BEGIN) {
        let Some(e) = rest[b..].find(END) else { break };
        out.push(format!("{}\n", &rest[b..b + e + END.len()]));
        rest = &rest[b + e + END.len()..];
    }
    out
}

/// A registry, probed and ready to authorize operations.
pub struct Session {
    /// As in references (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// `scheme://host`.
    pub base: String,
    pub http: reqwest::Client,
    pub oci: oci_client::Client,
    creds: Option<Credentials>,
    challenge: Option<Challenge>,
    tokens: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("registry", &self.registry)
            .field("base", &self.base)
            .field("creds", &self.creds)
            .finish()
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(120);

impl Session {
    /// Probes `https://registry/v2/` (then plain http where allowed) and
    /// checks `creds` when the registry asks for Basic auth.
    pub async fn connect(
        registry: &str,
        t: &Transport,
        creds: Option<Credentials>,
    ) -> Result<Session, RegistryError> {
        let host = api_host(registry).to_string();
        let insecure = match t.tls_verify {
            Some(v) => !v,
            None => is_loopback(registry),
        };
        let pems = match &t.ca_bundle {
            Some(p) => {
                let s = std::fs::read_to_string(p).map_err(|source| RegistryError::Io {
                    path: p.clone(),
                    source,
                })?;
                let v = split_pem(&s);
                if v.is_empty() {
                    return Err(RegistryError::Config(format!(
                        "{}: no PEM certificate in the CA bundle",
                        p.display()
                    )));
                }
                v
            }
            None => Vec::new(),
        };
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("imagectl/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(insecure);
        let mut certs = Vec::new();
        for pem in &pems {
            certs.push(
                reqwest::Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| RegistryError::Config(format!("CA bundle: {e}")))?,
            );
        }
        if !certs.is_empty() {
            b = b.tls_certs_merge(certs);
        }
        let http = b
            .build()
            .map_err(|e| RegistryError::Config(format!("HTTP client: {e}")))?;

        let (scheme, resp) = match probe(&http, "https", &host).await {
            Ok(r) => ("https", r),
            Err(e) if insecure => match probe(&http, "http", &host).await {
                Ok(r) => ("http", r),
                Err(e2) => {
                    return Err(RegistryError::Unreachable {
                        registry: registry.into(),
                        detail: format!("https: {e}; http: {e2}"),
                    })
                }
            },
            Err(e) => {
                return Err(RegistryError::Unreachable {
                    registry: registry.into(),
                    detail: format!("{e} (for a registry without valid TLS, --tls-verify=false)"),
                })
            }
        };
        let challenge = match resp {
            (401, Some(h)) => challenge::pick(&challenge::parse(&h)).cloned(),
            (401, None) => {
                return Err(RegistryError::Protocol {
                    what: format!("{registry}/v2/"),
                    detail: "401 without a WWW-Authenticate challenge".into(),
                })
            }
            (s, _) if (200..300).contains(&s) => None,
            (s, _) => {
                return Err(RegistryError::Protocol {
                    what: format!("{registry}/v2/"),
                    detail: format!("HTTP {s}: not a distribution registry?"),
                })
            }
        };

        let oci = oci_client::Client::try_from(ClientConfig {
            protocol: if scheme == "http" {
                ClientProtocol::HttpsExcept(vec![host.clone()])
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: insecure,
            // Chunked uploads are ours (oci-client's chunk size is fixed).
            use_monolithic_push: true,
            extra_root_certificates: pems
                .iter()
                .map(|p| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: p.as_bytes().to_vec(),
                })
                .collect(),
            platform_resolver: None,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: concat!("imagectl/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        })
        .map_err(|e| RegistryError::Config(format!("registry client: {e}")))?;

        let s = Session {
            registry: registry.into(),
            base: format!("{scheme}://{host}"),
            http,
            oci,
            creds,
            challenge,
            tokens: Mutex::new(HashMap::new()),
        };
        if s.challenge.as_ref().is_some_and(|c| c.scheme == "basic") {
            s.check_basic().await?;
        }
        Ok(s)
    }

    pub fn has_credentials(&self) -> bool {
        self.creds.is_some()
    }

    /// Whether the registry asks for any authentication at all.
    pub fn auth_scheme(&self) -> Option<&str> {
        self.challenge.as_ref().map(|c| c.scheme.as_str())
    }

    fn basic_header(&self) -> Option<String> {
        self.creds.as_ref().map(|c| {
            let raw = format!("{}:{}", c.username, c.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        })
    }

    async fn check_basic(&self) -> Result<(), RegistryError> {
        let Some(h) = self.basic_header() else {
            return Ok(());
        };
        let r = self
            .http
            .get(format!("{}/v2/", self.base))
            .header("Authorization", h)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match r.status().as_u16() {
            200..=299 => Ok(()),
            401 | 403 => Err(RegistryError::BadCredentials {
                registry: self.registry.clone(),
            }),
            s => Err(RegistryError::Protocol {
                what: format!("{}/v2/", self.registry),
                detail: format!("HTTP {s} with credentials"),
            }),
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            detail: e.to_string(),
        }
    }

    /// Verifies the credentials for `login`: Basic by the probe, Bearer by
    /// a token request (for the catalog scope, which every token server
    /// answers with or without granting it).
    pub async fn verify_login(&self) -> Result<(), RegistryError> {
        match self.auth_scheme() {
            Some("bearer") => self
                .token(&["registry:catalog:*".to_string()])
                .await
                .map(|_| ()),
            _ => Ok(()),
        }
    }

    /// A bearer token for `scopes` (from the challenge's realm), cached.
    async fn token(&self, scopes: &[String]) -> Result<String, RegistryError> {
        let key = scopes.join(" ");
        if let Some(t) = self.tokens.lock().await.get(&key) {
            return Ok(t.clone());
        }
        let c = self
            .challenge
            .as_ref()
            .expect("token() is for Bearer challenges");
        let realm = c.param("realm").ok_or_else(|| RegistryError::Protocol {
            what: format!("{}/v2/", self.registry),
            detail: "Bearer challenge without a realm".into(),
        })?;
        let mut q: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = c.param("service") {
            q.push(("service", s));
        }
        for s in scopes {
            q.push(("scope", s));
        }
        if let Some(cr) = &self.creds {
            q.push(("account", &cr.username));
        }
        let mut req = self.http.get(realm).query(&q);
        if let Some(h) = self.basic_header() {
            req = req.header("Authorization", h);
        }
        let token_err = |detail: String| RegistryError::Token {
            registry: self.registry.clone(),
            realm: realm.to_string(),
            detail,
        };
        let r = req.send().await.map_err(|e| token_err(e.to_string()))?;
        let status = r.status().as_u16();
        if status == 401 || status == 403 {
            return Err(if self.creds.is_some() {
                RegistryError::BadCredentials {
                    registry: self.registry.clone(),
                }
            } else {
                RegistryError::AuthRequired {
                    registry: self.registry.clone(),
                }
            });
        }
        let body = r.bytes().await.map_err(|e| token_err(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(token_err(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| token_err(format!("response is not JSON: {e}")))?;
        let t = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| token_err("response has no token".into()))?
            .to_string();
        self.tokens.lock().await.insert(key, t.clone());
        Ok(t)
    }

    /// The `Authorization` header for a request needing `scopes`, if any.
    pub async fn authorization(&self, scopes: &[String]) -> Result<Option<String>, RegistryError> {
        match self.auth_scheme() {
            Some("bearer") => Ok(Some(format!("Bearer {}", self.token(scopes).await?))),
            Some("basic") => Ok(self.basic_header()),
            _ => Ok(None),
        }
    }

    /// Sends a request built by `build` (given the Authorization value)
    /// with a token for `scopes`; on a 401 whose challenge names scopes
    /// the token lacked, fetches a token for those too and retries once.
    pub async fn send<F>(
        &self,
        scopes: &[String],
        what: &str,
        build: F,
    ) -> Result<reqwest::Response, RegistryError>
    where
        F: Fn(Option<&str>) -> reqwest::RequestBuilder,
    {
        let mut scopes = scopes.to_vec();
        let fail = |e: reqwest::Error| RegistryError::Transfer {
            what: what.to_string(),
            detail: error_chain(&e),
        };
        let h = self.authorization(&scopes).await?;
        let r = build(h.as_deref()).send().await.map_err(fail)?;
        if r.status().as_u16() != 401 || self.auth_scheme() != Some("bearer") {
            return Ok(r);
        }
        let wanted = r
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(challenge::parse)
            .and_then(|c| challenge::pick(&c).and_then(|c| c.param("scope").map(String::from)));
        let mut grew = false;
        for sc in wanted.iter().flat_map(|w| w.split(' ')) {
            if !sc.is_empty() && !scopes.iter().any(|x| x == sc) {
                scopes.push(sc.to_string());
                grew = true;
            }
        }
        if !grew {
            return Err(self.denied(what));
        }
        let h = self.authorization(&scopes).await?;
        let r = build(h.as_deref()).send().await.map_err(fail)?;
        if r.status().as_u16() == 401 {
            return Err(self.denied(what));
        }
        Ok(r)
    }

    fn denied(&self, what: &str) -> RegistryError {
        if self.creds.is_some() {
            RegistryError::Denied {
                what: what.into(),
                registry: self.registry.clone(),
            }
        } else {
            RegistryError::AuthRequired {
                registry: self.registry.clone(),
            }
        }
    }

    /// Makes `self.oci` send the right credentials for `op` on `image`'s
    /// repository; `extra` scopes join the token (a mount's source repo).
    pub async fn prepare(
        &self,
        image: &OciRef,
        op: RegistryOperation,
        extra: &[String],
    ) -> Result<(), RegistryError> {
        let auth = match self.auth_scheme() {
            Some("bearer") => {
                let mut scopes = vec![scope(image.repository(), op)];
                scopes.extend_from_slice(extra);
                RegistryAuth::Bearer(self.token(&scopes).await?)
            }
            Some("basic") => match &self.creds {
                Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
                None => {
                    return Err(RegistryError::AuthRequired {
                        registry: self.registry.clone(),
                    })
                }
            },
            _ => return Ok(()),
        };
        self.oci
            .auth(image, &auth, op)
            .await
            .map_err(|e| self.map_oci(format!("{}: authenticating", self.registry), e))?;
        Ok(())
    }

    /// An oci-client error, in this module's terms.
    pub fn map_oci(
        &self,
        what: String,
        e: oci_client::errors::OciDistributionError,
    ) -> RegistryError {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
        match &e {
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
                if self.creds.is_some() {
                    RegistryError::Denied {
                        what,
                        registry: self.registry.clone(),
                    }
                } else {
                    RegistryError::AuthRequired {
                        registry: self.registry.clone(),
                    }
                }
            }
            E::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|x| {
                    matches!(
                        x.code,
                        C::ManifestUnknown | C::NameUnknown | C::BlobUnknown | C::NotFound
                    )
                }) =>
            {
                RegistryError::NotFound(what)
            }
            E::RegistryError { envelope, .. }
                if envelope
                    .errors
                    .iter()
                    .any(|x| matches!(x.code, C::Denied | C::Unauthorized)) =>
            {
                RegistryError::Denied {
                    what,
                    registry: self.registry.clone(),
                }
            }
            E::ServerError { code: 404, .. } => RegistryError::NotFound(what),
            _ => RegistryError::Distribution { what, source: e },
        }
    }
}

/// `repository:NAME:pull` or `...:pull,push`.
pub fn scope(repository: &str, op: RegistryOperation) -> String {
    match op {
        RegistryOperation::Pull => format!("repository:{repository}:pull"),
        RegistryOperation::Push => format!("repository:{repository}:pull,push"),
    }
}

/// GET scheme://host/v2/ → (status, WWW-Authenticate).
async fn probe(
    http: &reqwest::Client,
    scheme: &str,
    host: &str,
) -> Result<(u16, Option<String>), String> {
    let r = http
        .get(format!("{scheme}://{host}/v2/"))
        .timeout(CONNECT_TIMEOUT)
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    let h = r
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    Ok((r.status().as_u16(), h))
}

/// reqwest's Display hides the cause ("error sending request").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_insecure_by_default_as_in_docker() {
        for r in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "quay.io:443",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn pem_bundles_split_into_certificates() {
        let one = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----";
        let b = format!("# comment\n{one}\njunk\n{one}\n");
        let v = split_pem(&b);
        assert_eq!(v.len(), 2);
        assert!(v[0].starts_with("-----BEGIN") && v[0].trim_end().ends_with("-----"));
        assert!(split_pem("nothing").is_empty());
    }

    #[test]
    fn scopes_name_the_repository() {
        assert_eq!(
            scope("a/b", RegistryOperation::Push),
            "repository:a/b:pull,push"
        );
        assert_eq!(api_host("docker.io"), "index.docker.io");
    }
}
