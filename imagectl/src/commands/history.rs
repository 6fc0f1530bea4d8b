//! `imagectl history IMAGE`: IMAGE CREATED CREATED BY SIZE COMMENT, newest
//! first, as docker prints it. Entries with `empty_layer` have no layer;
//! the others take the manifest's layers in order.

use super::images::{ago, human_size, print_table, short_id};
use super::Ctx;
use crate::image;
use crate::platform::Platform;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not truncate CREATED BY.
    #[arg(long)]
    pub no_trunc: bool,
    pub image: String,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let img = image::open(&store, &a.image, &Platform::host())?;
    let now = crate::author::now_secs();
    let mut layers = img.manifest.layers().iter();
    let mut rows = Vec::new();
    for h in img.config.history().clone().unwrap_or_default() {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            layers.next().map_or(0, |l| l.size())
        };
        let by = h.created_by().clone().unwrap_or_default();
        let by = if a.no_trunc || by.chars().count() <= 45 {
            by
        } else {
            format!("{}...", by.chars().take(42).collect::<String>())
        };
        rows.push(vec![
            "<missing>".to_string(),
            h.created().as_deref().map_or("N/A".into(), |c| ago(now, c)),
            by,
            human_size(size),
            h.comment().clone().unwrap_or_default(),
        ]);
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top[0] = short_id(img.id().digest());
    }
    rows.insert(
        0,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
            .map(String::from)
            .to_vec(),
    );
    print_table(&rows);
    Ok(0)
}
