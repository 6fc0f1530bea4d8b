//! `berth list`: a Go-tabwriter table like runc's, a JSON array, or ids.

use std::os::unix::fs::MetadataExt;

use crate::cli::extras::{List, ListFormat};
use crate::state::{self, Container};

use super::Globals;

/// The owner's name from /etc/passwd, parsed directly: the static binary
/// has no NSS to ask.
fn owner(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    crate::process::user::name_of(uid, &passwd).unwrap_or_else(|| uid.to_string())
}

/// Pads columns like Go's tabwriter(minwidth 12, padding 3).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.len()) + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

pub fn run(g: &Globals, args: &List) -> anyhow::Result<i32> {
    let mut containers = Vec::new();
    for id in state::list_ids(&g.root)? {
        match Container::load(&g.root, &id) {
            Ok(c) => containers.push(c),
            Err(e) => tracing::warn!(container_id = %id, "skipping: {e}"),
        }
    }
    if args.quiet {
        for c in &containers {
            println!("{}", c.state.id);
        }
        return Ok(0);
    }
    match args.format {
        ListFormat::Json => {
            let states: Vec<_> = containers.iter().map(|c| c.oci_state(c.status())).collect();
            println!("{}", serde_json::to_string(&states)?);
        }
        ListFormat::Table => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for c in &containers {
                let status = c.status();
                let st = c.oci_state(status);
                let uid = std::fs::metadata(&c.dir).map(|m| m.uid()).unwrap_or(0);
                rows.push(vec![
                    c.state.id.clone(),
                    st.pid.to_string(),
                    status.to_string(),
                    c.state.bundle.display().to_string(),
                    c.state.created.clone(),
                    owner(uid),
                ]);
            }
            print!("{}", table(&rows));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_padding() {
        let rows = vec![
            vec!["ID".to_string(), "PID".into(), "CREATED".into()],
            vec![
                "h1".into(),
                "4048".into(),
                "2026-11-23T19:02:41.56424878Z".into(),
            ],
        ];
        let t = table(&rows);
        assert_eq!(t.lines().next().unwrap(), "ID          PID         CREATED");
        assert_eq!(
            t.lines().nth(1).unwrap(),
            "h1          4048        2026-11-23T19:02:41.56424878Z"
        );
    }
}
