//! Maps pinned under a retired name (`abi::RETIRED_MAPS`): an agent of
//! this version carries their rows into the maps that replaced them, then
//! removes their pins (which frees them once the old programs are
//! replaced). Until the first sync the new map serves what the old one
//! held; the sync then writes only differences.

use std::path::Path;

use anyhow::{Context, Result};
use aya::maps::{HashMap, Map, MapData};

use crate::abi::{NODEPORT_MAP, RETIRED_MAPS};
use crate::maps::Maps;

/// Carry over and unpin every retired map under `maps.dir`. A retired
/// map whose rows cannot be read is unpinned all the same (the first sync
/// writes the rows again) and named in the log. Returns the names found.
pub fn carry_over(maps: &mut Maps) -> Result<Vec<&'static str>> {
    let mut found = Vec::new();
    for &(old, new) in RETIRED_MAPS {
        let path = maps.dir.join(old);
        if !path.exists() {
            continue;
        }
        let copied = match new {
            NODEPORT_MAP => copy_rows(&path, &mut maps.nodeports),
            _ => Ok(0),
        };
        match copied {
            Ok(n) => tracing::info!("{old} retired: {n} rows carried over to {new}"),
            Err(e) => tracing::warn!("{old} retired, its rows not carried over to {new}: {e:#}"),
        }
        std::fs::remove_file(&path)
            .with_context(|| format!("removing the retired pin {}", path.display()))?;
        found.push(old);
    }
    Ok(found)
}

fn copy_rows<K: aya::Pod, V: aya::Pod>(from: &Path, to: &mut HashMap<MapData, K, V>) -> Result<usize> {
    let data = MapData::from_pin(from).with_context(|| format!("opening {}", from.display()))?;
    let old: HashMap<MapData, K, V> =
        HashMap::try_from(Map::HashMap(data)).context("its key or value size differs")?;
    let mut n = 0;
    for kv in old.iter() {
        let (k, v) = kv.context("reading a row")?;
        to.insert(k, v, 0).context("writing a row")?;
        n += 1;
    }
    Ok(n)
}
