//! One thin file per verb: parse its flags, call the library, print.

pub mod build;
pub mod commit;
pub mod diff;
pub mod export;
pub mod gc;
pub mod history;
pub mod images;
pub mod import;
pub mod inspect;
pub mod load;
pub mod login;
pub mod logout;
pub mod pull;
pub mod push;
pub mod rmi;
pub mod save;
pub mod search;
pub mod tag;
pub mod unpack;

use std::path::PathBuf;

use crate::store::Store;

/// What every verb gets.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub root: PathBuf,
}

impl Ctx {
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.root)?)
    }
}
