//! `berth features`.

pub fn run() -> anyhow::Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::features::features())?
    );
    Ok(0)
}
