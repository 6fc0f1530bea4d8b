//! Runs a parsed Dockerfile: stages (FROM an image, `scratch` or an
//! earlier stage), ARG scoping, ONBUILD triggers of the base, the cache
//! per step, metadata steps through [`super::instructions`], RUN through
//! [`super::run`] and COPY/ADD through [`super::copy`].
//!
//! Every step that misses the cache writes a (nameless) image with
//! [`ImageDraft`]: the next RUN or COPY unpacks it, the cache records its
//! manifest, and a rebuild whose steps all hit ends on the very same
//! manifest (same image id). Only the result gets a name.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use oci_spec::image::Descriptor;

use super::cache::{self, Cache};
use super::context::Context;
use super::dockerfile::{self, Command, Dockerfile, Instruction, ShellOrExec};
use super::instructions::{self, Extras, Vars};
use super::{copy, run, BuildError};
use crate::author::{self, ImageDraft, NewLayer};
use crate::image::{self, Image};
use crate::platform::Platform;
use crate::store::Store;

/// What `imagectl build` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub context: PathBuf,
    /// Default: CONTEXT/Dockerfile.
    pub dockerfile: Option<PathBuf>,
    /// Full names (`reference::parse(..).to_string()`).
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub platform: Platform,
    /// The OCI runtime that runs RUN steps (berth).
    pub runtime: PathBuf,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The manifest of the result.
    pub manifest: Descriptor,
    /// The image id (config digest).
    pub id: String,
    pub steps: usize,
    pub cached: usize,
}

/// One stage being built.
pub(crate) struct Stage {
    pub name: Option<String>,
    /// The image so far (`None`: scratch, nothing written yet).
    pub img: Option<Image>,
    pub key: String,
    pub extras: Extras,
    pub vars: Vars,
    pub author: Option<String>,
}

impl Stage {
    pub fn env(&self) -> Vec<String> {
        self.img
            .as_ref()
            .and_then(|i| i.config.config().as_ref())
            .and_then(|c| c.env().clone())
            .unwrap_or_default()
    }

    pub fn workdir(&self) -> Option<String> {
        self.img
            .as_ref()
            .and_then(|i| i.config.config().as_ref())
            .and_then(|c| c.working_dir().clone())
    }

    /// Expands one word with this stage's ENV and ARGs.
    pub fn expand(&self, w: &str, escape: char) -> Result<String, BuildError> {
        let env = self.env();
        let look = self.vars.lookup_fn(&env);
        dockerfile::expand::expand_word(w, escape, &look)
            .map_err(|e| BuildError::Step(e.to_string()))
    }
}

/// The build in progress.
pub(crate) struct Builder<'a> {
    pub store: &'a Store,
    pub opts: &'a Options,
    pub ctx: Context,
    pub cache: Cache,
    pub escape: char,
    pub out: &'a mut dyn Write,
    pub stages: Vec<Stage>,
    pub step: usize,
    pub total: usize,
    pub cached: usize,
}

/// Builds `opts` into `store`; progress goes to `out`. Names the result
/// with every tag only when all steps succeeded.
pub fn build(store: &Store, opts: &Options, out: &mut dyn Write) -> Result<Built, BuildError> {
    let df_path = opts
        .dockerfile
        .clone()
        .unwrap_or_else(|| opts.context.join("Dockerfile"));
    let text = std::fs::read_to_string(&df_path).map_err(|source| BuildError::Io {
        path: df_path.clone(),
        source,
    })?;
    let file = df_path
        .file_name()
        .map_or("Dockerfile".into(), |n| n.to_string_lossy().to_string());
    let df = dockerfile::parse(&file, &text)?;
    let ctx = Context::open(&opts.context)?;
    let mut b = Builder {
        store,
        opts,
        ctx,
        cache: Cache::open(store),
        escape: df.escape,
        out,
        stages: Vec::new(),
        step: 0,
        total: df
            .instructions
            .iter()
            .filter(|i| !matches!(i.cmd, Command::Arg(_)))
            .count(),
        cached: 0,
    };
    let last = b.run_stages(&df)?;
    let declared: Vec<&str> = df
        .instructions
        .iter()
        .filter_map(|i| match &i.cmd {
            Command::Arg(a) => Some(a.iter().map(|(n, _)| n.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    let unused: Vec<&str> = opts
        .build_args
        .keys()
        .map(String::as_str)
        .filter(|k| !declared.contains(k))
        .collect();
    if !unused.is_empty() {
        let _ = writeln!(
            b.out,
            "warning: build-args not consumed by any ARG: {}",
            unused.join(", ")
        );
    }
    if super::interrupt::interrupted() {
        return Err(BuildError::Interrupted);
    }
    let stage = &b.stages[last];
    let img = match &stage.img {
        Some(i) => i.clone(),
        None => b.write_draft(stage, ImageDraft::from_base(None))?,
    };
    let desc = img_descriptor(&img);
    for t in &opts.tags {
        store.set_ref(t, &desc)?;
    }
    Ok(Built {
        manifest: desc,
        id: img.id().to_string(),
        steps: b.step,
        cached: b.cached,
    })
}

fn img_descriptor(img: &Image) -> Descriptor {
    if img.target.digest() == &img.manifest_digest {
        img.target.clone()
    } else {
        Descriptor::new(
            oci_spec::image::MediaType::ImageManifest,
            0,
            img.manifest_digest.clone(),
        )
    }
}

impl Builder<'_> {
    /// Runs the stages up to the target; returns the index of the last.
    fn run_stages(&mut self, df: &Dockerfile) -> Result<usize, BuildError> {
        let mut globals = Vars::default();
        for i in &df.instructions {
            match &i.cmd {
                Command::Arg(a) if self.stages.is_empty() => globals
                    .declare(a, &self.opts.build_args, None, &[], self.escape)
                    .map_err(|e| at(i, e))?,
                Command::From {
                    image,
                    alias,
                    platform,
                } => {
                    if let Some(t) = &self.opts.target {
                        if self.stages.last().and_then(|s| s.name.as_ref()) == Some(t) {
                            return Ok(self.stages.len() - 1);
                        }
                    }
                    self.from(i, image, alias.clone(), platform.as_deref(), &globals)?;
                }
                cmd => {
                    let s = self.stages.len() - 1;
                    self.instruction(s, i, cmd, &globals)?;
                }
            }
        }
        if let Some(t) = &self.opts.target {
            if self.stages.last().and_then(|s| s.name.as_ref()) != Some(t) {
                return Err(BuildError::Step(format!(
                    "target stage {t:?} could not be found"
                )));
            }
        }
        Ok(self.stages.len() - 1)
    }

    fn progress(&mut self, i: &Instruction, stage: usize) {
        self.step += 1;
        let name = self.stages[stage]
            .name
            .clone()
            .unwrap_or_else(|| stage.to_string());
        let _ = writeln!(
            self.out,
            "STEP {}/{} [{name}]: {}",
            self.step, self.total, i.text
        );
    }

    fn from(
        &mut self,
        i: &Instruction,
        image: &str,
        alias: Option<String>,
        platform: Option<&str>,
        globals: &Vars,
    ) -> Result<(), BuildError> {
        let look = globals.lookup_fn(&[]);
        let name =
            dockerfile::expand::expand_word(image, self.escape, &look).map_err(|e| at(i, e))?;
        let platform: Platform = match platform {
            Some(p) => {
                let p =
                    dockerfile::expand::expand_word(p, self.escape, &look).map_err(|e| at(i, e))?;
                p.parse()
                    .map_err(|e| BuildError::Step(format!("{}: --platform {p}: {e}", i.text)))?
            }
            None => self.opts.platform.clone(),
        };
        let prev = self
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(name.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|&n| n < self.stages.len())
            });
        let (img, extras, key, author) = if let Some(p) = prev {
            let s = &self.stages[p];
            (
                s.img.clone(),
                s.extras.clone(),
                s.key.clone(),
                s.author.clone(),
            )
        } else if name.eq_ignore_ascii_case("scratch") {
            (
                None,
                Extras::default(),
                cache::key("scratch", &[&platform.to_string()]),
                None,
            )
        } else {
            let img = match image::open(self.store, &name, &platform) {
                Ok(img) => img,
                Err(image::ImageError::NotFound(_)) => {
                    let _ = writeln!(self.out, "pulling {name}");
                    pull_base(self.store, &name, &platform)
                        .map_err(|e| BuildError::Step(format!("{}: pull {name}: {e}", i.text)))?;
                    image::open(self.store, &name, &platform)?
                }
                Err(e) => return Err(BuildError::Step(format!("{}: {e}", i.text))),
            };
            let key = cache::key("image", &[img.manifest_digest.as_ref()]);
            let mut extras = Extras::default();
            if let Some(shell) = base_shell(&img) {
                extras.shell = shell;
            }
            (Some(img), extras, key, None)
        };
        let triggers = img.as_ref().map(onbuild_triggers).unwrap_or_default();
        self.stages.push(Stage {
            name: alias,
            img,
            key,
            extras: Extras {
                cmd_set: false,
                onbuild: Vec::new(),
                ..extras
            },
            vars: Vars::default(),
            author,
        });
        let s = self.stages.len() - 1;
        self.progress(i, s);
        for t in triggers {
            let d = dockerfile::parse("ONBUILD", &format!("FROM scratch\n{t}\n"))?;
            let ti = &d.instructions[1];
            self.total += 1;
            self.instruction(s, ti, &ti.cmd, globals)?;
        }
        Ok(())
    }

    fn instruction(
        &mut self,
        s: usize,
        i: &Instruction,
        cmd: &Command,
        globals: &Vars,
    ) -> Result<(), BuildError> {
        if let Command::Arg(a) = cmd {
            let env = self.stages[s].env();
            let st = &mut self.stages[s];
            st.vars
                .declare(a, &self.opts.build_args, Some(globals), &env, self.escape)
                .map_err(|e| at(i, e))?;
            return Ok(());
        }
        if super::interrupt::interrupted() {
            return Err(BuildError::Interrupted);
        }
        self.progress(i, s);
        let sources = match cmd {
            Command::Copy(c) | Command::Add(c) => {
                Some(copy::prepare(self, s, c, matches!(cmd, Command::Add(_)))?)
            }
            _ => None,
        };
        let st = &self.stages[s];
        let args: Vec<String> = st
            .vars
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut parts = vec![i.text.clone(), args.join("\n"), st.extras.shell.join("\n")];
        if let Some(p) = &sources {
            parts.push(p.hash.clone());
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let key = cache::key(&st.key, &refs);
        // Metadata the image config cannot hold changes with or without
        // a cache hit.
        let mut scratch_cfg = st
            .img
            .as_ref()
            .and_then(|i| i.config.config().clone())
            .unwrap_or_default();
        let mut extras = st.extras.clone();
        let mut author = st.author.clone();
        {
            let env = st.env();
            let look = st.vars.lookup_fn(&env);
            instructions::apply(
                &mut scratch_cfg,
                &mut extras,
                &mut author,
                cmd,
                self.escape,
                &look,
            )
            .map_err(|e| at(i, e))?;
        }
        if !self.opts.no_cache {
            if let Some(desc) = self.cache.get(self.store, &key) {
                if let Ok(img) = image::resolve(self.store, None, desc, &self.opts.platform) {
                    let _ = writeln!(self.out, "--> Using cache {}", short(img.id().digest()));
                    self.cached += 1;
                    let st = &mut self.stages[s];
                    st.img = Some(img);
                    st.key = key;
                    st.extras = extras;
                    st.author = author;
                    return Ok(());
                }
            }
        }
        let mut draft = ImageDraft::from_base(self.stages[s].img.as_ref());
        let author_s = author.clone();
        match cmd {
            Command::Run {
                cmd: form, flags, ..
            } => {
                let layer = run::run(self, s, i, form, flags)?;
                draft.add_layer(
                    &layer,
                    author::history(&i.text, None, author_s.as_deref(), false),
                );
            }
            Command::Copy(_) | Command::Add(_) => {
                let layer: NewLayer =
                    copy::write(self, s, sources.as_ref().expect("prepared above"))?;
                draft.add_layer(
                    &layer,
                    author::history(&i.text, None, author_s.as_deref(), false),
                );
            }
            _ => {
                draft.config.set_config(Some(scratch_cfg));
                draft.add_history(author::history(&i.text, None, author_s.as_deref(), true));
            }
        }
        if let Some(a) = &author {
            draft.config.set_author(Some(a.clone()));
        }
        persist_extras(&extras, &mut draft).map_err(|e| at(i, e))?;
        let img = {
            let st = &self.stages[s];
            self.write_draft(st, draft)?
        };
        self.cache
            .put(&key, &img_descriptor(&img))
            .map_err(|source| BuildError::Io {
                path: self.store.root().join("build-cache"),
                source,
            })?;
        let _ = writeln!(self.out, "--> {}", short(img.id().digest()));
        let st = &mut self.stages[s];
        st.img = Some(img);
        st.key = key;
        st.extras = extras;
        st.author = author;
        Ok(())
    }

    pub(crate) fn write_draft(&self, _st: &Stage, draft: ImageDraft) -> Result<Image, BuildError> {
        let desc = draft.write(self.store)?;
        Ok(image::resolve(self.store, None, desc, &self.opts.platform)?)
    }
}

/// Pulls a missing base image (as docker does), with the default
/// transport and the usual auth files.
fn pull_base(store: &Store, name: &str, platform: &Platform) -> Result<(), String> {
    use crate::registry::{self, progress::Progress, pull, AuthFiles, Transport};
    let r = crate::reference::parse(name).map_err(|e| e.to_string())?;
    let opts = pull::PullOptions {
        platform: platform.clone(),
        jobs: 3,
    };
    let transport = Transport {
        tls_verify: None,
        ca_bundle: None,
    };
    let auth = AuthFiles::from_env(None);
    let progress = Progress::new(true);
    let rt = registry::runtime().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let s = registry::connect(&r.registry, &r.repository, &transport, &auth).await?;
        pull::pull(store, &s, &r, &opts, &progress).await
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

fn at(i: &Instruction, e: impl std::fmt::Display) -> BuildError {
    BuildError::Step(format!("line {}: {}: {e}", i.pos.line, i.text))
}

/// `config.Shell` of a base image, which its children's RUNs use.
fn base_shell(img: &Image) -> Option<Vec<String>> {
    let sh: Vec<String> =
        serde_json::from_value(img.raw_exec_config().get("Shell")?.clone()).ok()?;
    (!sh.is_empty()).then_some(sh)
}

/// Writes what oci-spec's config type cannot hold into the draft, in
/// docker's field names: `Shell` (when not the default), `Healthcheck`
/// (durations in nanoseconds, `Test` as `CMD`/`CMD-SHELL`/`NONE`) and
/// `OnBuild` (this stage's triggers, for children to run).
fn persist_extras(x: &Extras, draft: &mut ImageDraft) -> Result<(), String> {
    use serde_json::json;
    let m = &mut draft.extra_config;
    if x.shell != Extras::default().shell {
        m.insert("Shell".into(), json!(x.shell));
    }
    if let Some(h) = &x.healthcheck {
        let test = match &h.test {
            None => json!(["NONE"]),
            Some(ShellOrExec::Exec(v)) => {
                let mut t = vec!["CMD".to_string()];
                t.extend(v.iter().cloned());
                json!(t)
            }
            Some(ShellOrExec::Shell(s)) => json!(["CMD-SHELL", s]),
        };
        let mut hc = serde_json::Map::new();
        hc.insert("Test".into(), test);
        for (k, v) in [
            ("Interval", &h.interval),
            ("Timeout", &h.timeout),
            ("StartPeriod", &h.start_period),
            ("StartInterval", &h.start_interval),
        ] {
            if let Some(d) = v {
                let ns =
                    go_duration_ns(d).ok_or_else(|| format!("HEALTHCHECK: bad duration {d:?}"))?;
                hc.insert(k.into(), json!(ns));
            }
        }
        if let Some(r) = h.retries {
            hc.insert("Retries".into(), json!(r));
        }
        m.insert("Healthcheck".into(), serde_json::Value::Object(hc));
    }
    if x.onbuild.is_empty() {
        m.remove("OnBuild");
    } else {
        m.insert("OnBuild".into(), json!(x.onbuild));
    }
    Ok(())
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `1.5h`) in nanoseconds.
fn go_duration_ns(s: &str) -> Option<u64> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(n);
        let v: f64 = num.parse().ok()?;
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(u);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += v * scale;
        rest = next;
    }
    Some(total.round() as u64)
}

/// `config.OnBuild` of a base image (docker's extension; not in
/// oci-spec's type, so read from the raw config).
fn onbuild_triggers(img: &Image) -> Vec<String> {
    img.raw_exec_config()
        .get("OnBuild")
        .and_then(|t| t.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::Healthcheck;

    #[test]
    fn go_durations_in_nanoseconds() {
        assert_eq!(go_duration_ns("30s"), Some(30_000_000_000));
        assert_eq!(go_duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration_ns("500ms"), Some(500_000_000));
        assert_eq!(go_duration_ns("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration_ns("0"), Some(0));
        assert_eq!(go_duration_ns("10"), None);
        assert_eq!(go_duration_ns("5x"), None);
    }

    #[test]
    fn shell_healthcheck_and_onbuild_are_written_in_dockers_names() {
        let mut draft = ImageDraft::from_base(None);
        let x = Extras {
            shell: vec!["/bin/ash".into(), "-eo".into()],
            healthcheck: Some(Healthcheck {
                test: Some(ShellOrExec::Shell("wget -q localhost".into())),
                interval: Some("30s".into()),
                timeout: None,
                start_period: Some("1m".into()),
                start_interval: None,
                retries: Some(3),
            }),
            onbuild: vec!["RUN echo child".into()],
            cmd_set: false,
        };
        persist_extras(&x, &mut draft).unwrap();
        let m = serde_json::Value::Object(draft.extra_config.clone());
        assert_eq!(m["Shell"], serde_json::json!(["/bin/ash", "-eo"]));
        assert_eq!(
            m["Healthcheck"]["Test"],
            serde_json::json!(["CMD-SHELL", "wget -q localhost"])
        );
        assert_eq!(m["Healthcheck"]["Interval"], 30_000_000_000u64);
        assert_eq!(m["Healthcheck"]["StartPeriod"], 60_000_000_000u64);
        assert_eq!(m["Healthcheck"]["Retries"], 3);
        assert!(m["Healthcheck"].get("Timeout").is_none());
        assert_eq!(m["OnBuild"], serde_json::json!(["RUN echo child"]));
        // Defaults write nothing, and a child does not pass triggers on.
        let mut d2 = ImageDraft::from_base(None);
        d2.extra_config
            .insert("OnBuild".into(), serde_json::json!(["RUN x"]));
        persist_extras(&Extras::default(), &mut d2).unwrap();
        assert!(d2.extra_config.is_empty(), "{:?}", d2.extra_config);
    }

    #[test]
    fn none_disables_an_inherited_healthcheck() {
        let mut draft = ImageDraft::from_base(None);
        let x = Extras {
            healthcheck: Some(Healthcheck {
                test: None,
                interval: None,
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: None,
            }),
            ..Extras::default()
        };
        persist_extras(&x, &mut draft).unwrap();
        assert_eq!(
            draft.extra_config["Healthcheck"]["Test"],
            serde_json::json!(["NONE"])
        );
    }
}
