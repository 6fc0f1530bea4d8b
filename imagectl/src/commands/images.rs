//! `imagectl images`: REPOSITORY TAG IMAGE ID CREATED SIZE, as docker
//! prints it (sizes are what the store holds: compressed layers).

use super::Ctx;
use crate::image;
use crate::platform::Platform;
use crate::reference;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the manifest digest column.
    #[arg(long)]
    pub digests: bool,
    /// `table` (default) or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let host = Platform::host();
    let now = crate::author::now_secs();
    let mut rows = Vec::new();
    for (name, desc) in store.refs()? {
        let img = image::resolve(&store, Some(name.clone()), desc, &host)?;
        let (repo, tag) = match reference::parse(&name) {
            Ok(r) => (
                r.familiar_name(),
                r.tag.clone().unwrap_or_else(|| "<none>".into()),
            ),
            Err(_) => (name.clone(), "<none>".into()),
        };
        rows.push((repo, tag, img));
    }
    match a.format.as_str() {
        "json" => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|(repo, tag, img)| {
                    serde_json::json!({
                        "Repository": repo, "Tag": tag, "Id": img.id().to_string(),
                        "Digest": img.target.digest().to_string(),
                        "Created": img.config.created(), "Size": img.size(),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        "table" if a.quiet => {
            let mut seen = std::collections::HashSet::new();
            for (_, _, img) in &rows {
                if seen.insert(img.id().to_string()) {
                    println!("{}", short_id(img.id().digest()));
                }
            }
        }
        "table" => {
            let mut out = vec![if a.digests {
                vec!["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>()
            } else {
                ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
                    .map(String::from)
                    .to_vec()
            }];
            for (repo, tag, img) in &rows {
                let mut r = vec![repo.clone(), tag.clone()];
                if a.digests {
                    r.push(img.target.digest().to_string());
                }
                r.push(short_id(img.id().digest()));
                r.push(
                    img.config
                        .created()
                        .as_deref()
                        .map_or("N/A".into(), |c| ago(now, c)),
                );
                r.push(human_size(img.size()));
                out.push(r);
            }
            print_table(&out);
        }
        other => anyhow::bail!("--format: unknown format {other:?} (table or json)"),
    }
    Ok(0)
}

pub fn short_id(hex: &str) -> String {
    hex.chars().take(12).collect()
}

/// Columns padded to their widest cell, three spaces apart.
pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = width[c]));
            }
        }
        println!("{}", line.trim_end());
    }
}

/// docker's units: decimal, three significant digits (`1.23MB`, `512B`).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        return format!("{n}B");
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{:.*}{}", digits, v, UNITS[u])
}

/// Seconds since the epoch of an RFC 3339 time (`2024-01-02T03:04:05Z`,
/// fractions and offsets allowed).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// "3 days ago", as docker words it.
pub fn ago(now: i64, created: &str) -> String {
    let Some(t) = parse_rfc3339(created) else {
        return created.to_string();
    };
    let s = (now - t).max(0);
    let (n, unit) = match s {
        0..=59 => return "Less than a minute ago".into(),
        60..=3599 => (s / 60, "minute"),
        3600..=86399 => (s / 3600, "hour"),
        86400..=1209599 => (s / 86400, "day"),
        1209600..=5183999 => (s / 604800, "week"),
        5184000..=63071999 => (s / 2592000, "month"),
        _ => (s / 31536000, "year"),
    };
    if n == 1 {
        format!("{} {unit} ago", if unit == "hour" { "An" } else { "1" })
    } else {
        format!("{n} {unit}s ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1_234_567), "1.23MB");
        assert_eq!(human_size(45_600_000), "45.6MB");
        assert_eq!(human_size(456_000_000), "456MB");
    }

    #[test]
    fn rfc3339_to_epoch() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.123456789Z"),
            Some(1709208000)
        );
        assert_eq!(parse_rfc3339("2024-02-29T14:00:00+02:00"), Some(1709208000));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn ages_in_words() {
        let t = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(
            ago(t + 30, "2024-01-01T00:00:00Z"),
            "Less than a minute ago"
        );
        assert_eq!(ago(t + 7200, "2024-01-01T00:00:00Z"), "2 hours ago");
        assert_eq!(ago(t + 3 * 86400, "2024-01-01T00:00:00Z"), "3 days ago");
    }
}
