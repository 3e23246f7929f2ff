//! STATUS: ready while the IPAM store is usable and has a free address.

use crate::config::NetConf;
use crate::ipam::Ipam;
use crate::spec::CniError;

pub fn status(conf: &NetConf) -> Result<(), CniError> {
    let free = Ipam::new(conf).free().map_err(|e| {
        CniError::not_available(format!("IPAM store {}: {}", conf.ipam_dir().display(), e.details))
    })?;
    if free == 0 {
        return Err(CniError::not_available(format!(
            "no free address left in {} ({})",
            conf.name,
            conf.ranges
                .iter()
                .map(|r| r.subnet.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}
