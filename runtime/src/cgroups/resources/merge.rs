//! `update` requests folded into the stored resources: a set field replaces
//! the stored one, structs merge field by field, per-device lists merge
//! per device (runc's upsertWeightDevice / upsertThrottleDevice), and
//! runc's update fix-ups apply.

use std::collections::HashMap;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxInterfacePriority, LinuxMemory, LinuxNetwork,
    LinuxRdma, LinuxResources, LinuxThrottleDevice, LinuxThrottleDeviceBuilder, LinuxWeightDevice,
    LinuxWeightDeviceBuilder,
};

/// `base` with every field that `update` sets replaced (what runc's update
/// does with the container's stored config).
///
/// Lists keyed by device, page size or interface are merged per key: the
/// kernel keeps the limits of entries an update does not mention, so the
/// stored config keeps them too. The device allowlist is an ordered rule
/// list and is replaced whole. runc's fix-ups: a memory limit of -1 with no
/// swap in the update stores swap 0 ("unset"), which [`super::plan`] turns
/// into unlimited swap (v2 always, v1 where memsw exists), instead of
/// keeping an old swap value the unlimited memory no longer fits; cpu.idle
/// with no shares in the update stores shares 0 so cpu.weight is not
/// rewritten over the idle setting.
pub fn merge(base: &LinuxResources, update: &LinuxResources) -> LinuxResources {
    let mut out = base.clone();
    if let Some(d) = update.devices() {
        out.set_devices(Some(d.clone()));
    }
    if let Some(u) = update.memory() {
        out.set_memory(Some(memory(base.memory().unwrap_or_default(), u)));
    }
    if let Some(u) = update.cpu() {
        out.set_cpu(Some(cpu(base.cpu().clone().unwrap_or_default(), u)));
    }
    if let Some(u) = update.pids() {
        out.set_pids(Some(*u));
    }
    if let Some(u) = update.block_io() {
        out.set_block_io(Some(block_io(
            base.block_io().clone().unwrap_or_default(),
            u,
        )));
    }
    if let Some(u) = update.hugepage_limits() {
        let mut v = base.hugepage_limits().clone().unwrap_or_default();
        upsert(
            &mut v,
            u,
            |a: &LinuxHugepageLimit, b| a.page_size() == b.page_size(),
            |_, n| n.clone(),
        );
        out.set_hugepage_limits(Some(v));
    }
    if let Some(u) = update.network() {
        out.set_network(Some(network(base.network().clone().unwrap_or_default(), u)));
    }
    if let Some(u) = update.rdma() {
        let mut m = base.rdma().clone().unwrap_or_default();
        for (dev, l) in u {
            let e = m.entry(dev.clone()).or_default();
            *e = rdma(*e, l);
        }
        out.set_rdma(Some(m));
    }
    if let Some(u) = update.unified() {
        let mut m: HashMap<String, String> = base.unified().clone().unwrap_or_default();
        m.extend(u.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.set_unified(Some(m));
    }
    out
}

/// Assigns `update.$get()` to `base` through `$set` when it is set.
macro_rules! take {
    ($base:ident, $update:ident, $($get:ident => $set:ident),+ $(,)?) => {
        $(if let Some(v) = $update.$get() {
            $base.$set(Some(v));
        })+
    };
}

fn memory(mut b: LinuxMemory, u: &LinuxMemory) -> LinuxMemory {
    take!(b, u,
        limit => set_limit,
        reservation => set_reservation,
        swap => set_swap,
        kernel_tcp => set_kernel_tcp,
        swappiness => set_swappiness,
        disable_oom_killer => set_disable_oom_killer,
        use_hierarchy => set_use_hierarchy,
        check_before_update => set_check_before_update,
    );
    #[allow(deprecated)] // carried so plan can refuse it
    if let Some(k) = u.kernel() {
        b.set_kernel(Some(k));
    }
    if u.limit() == Some(-1) && u.swap().is_none() {
        b.set_swap(Some(0));
    }
    b
}

fn cpu(mut b: LinuxCpu, u: &LinuxCpu) -> LinuxCpu {
    take!(b, u,
        shares => set_shares,
        quota => set_quota,
        idle => set_idle,
        burst => set_burst,
        period => set_period,
        realtime_runtime => set_realtime_runtime,
        realtime_period => set_realtime_period,
    );
    if let Some(c) = u.cpus() {
        b.set_cpus(Some(c.clone()));
    }
    if let Some(m) = u.mems() {
        b.set_mems(Some(m.clone()));
    }
    if u.idle().is_some() && u.shares().is_none() {
        b.set_shares(Some(0));
    }
    b
}

fn block_io(mut b: LinuxBlockIo, u: &LinuxBlockIo) -> LinuxBlockIo {
    take!(b, u, weight => set_weight, leaf_weight => set_leaf_weight);
    if let Some(list) = u.weight_device() {
        let mut v = b.weight_device().clone().unwrap_or_default();
        upsert(&mut v, list, same_weight_device, weight_device);
        b.set_weight_device(Some(v));
    }
    type Field = (
        fn(&LinuxBlockIo) -> &Option<Vec<LinuxThrottleDevice>>,
        fn(&mut LinuxBlockIo, Option<Vec<LinuxThrottleDevice>>) -> &mut LinuxBlockIo,
    );
    let throttles: [Field; 4] = [
        (
            LinuxBlockIo::throttle_read_bps_device,
            LinuxBlockIo::set_throttle_read_bps_device,
        ),
        (
            LinuxBlockIo::throttle_write_bps_device,
            LinuxBlockIo::set_throttle_write_bps_device,
        ),
        (
            LinuxBlockIo::throttle_read_iops_device,
            LinuxBlockIo::set_throttle_read_iops_device,
        ),
        (
            LinuxBlockIo::throttle_write_iops_device,
            LinuxBlockIo::set_throttle_write_iops_device,
        ),
    ];
    for (get, set) in throttles {
        if let Some(list) = get(u) {
            let mut v = get(&b).clone().unwrap_or_default();
            upsert(&mut v, list, same_throttle, throttle);
            set(&mut b, Some(v));
        }
    }
    b
}

fn same_weight_device(a: &LinuxWeightDevice, b: &LinuxWeightDevice) -> bool {
    (a.major(), a.minor()) == (b.major(), b.minor())
}

fn same_throttle(a: &LinuxThrottleDevice, b: &LinuxThrottleDevice) -> bool {
    (a.major(), a.minor()) == (b.major(), b.minor())
}

/// An existing device's weights with the update's set ones replacing them.
fn weight_device(old: &LinuxWeightDevice, new: &LinuxWeightDevice) -> LinuxWeightDevice {
    let mut bld = LinuxWeightDeviceBuilder::default()
        .major(old.major())
        .minor(old.minor());
    if let Some(w) = new.weight().or(old.weight()) {
        bld = bld.weight(w);
    }
    if let Some(w) = new.leaf_weight().or(old.leaf_weight()) {
        bld = bld.leaf_weight(w);
    }
    bld.build().unwrap_or(*new)
}

fn throttle(old: &LinuxThrottleDevice, new: &LinuxThrottleDevice) -> LinuxThrottleDevice {
    LinuxThrottleDeviceBuilder::default()
        .major(old.major())
        .minor(old.minor())
        .rate(new.rate())
        .build()
        .unwrap_or(*new)
}

fn network(mut b: LinuxNetwork, u: &LinuxNetwork) -> LinuxNetwork {
    take!(b, u, class_id => set_class_id);
    if let Some(list) = u.priorities() {
        let mut v = b.priorities().clone().unwrap_or_default();
        upsert(
            &mut v,
            list,
            |a: &LinuxInterfacePriority, n| a.name() == n.name(),
            |_, n| n.clone(),
        );
        b.set_priorities(Some(v));
    }
    b
}

fn rdma(mut b: LinuxRdma, u: &LinuxRdma) -> LinuxRdma {
    if let Some(h) = u.hca_handles() {
        *b.hca_handles_mut() = Some(h);
    }
    if let Some(o) = u.hca_objects() {
        *b.hca_objects_mut() = Some(o);
    }
    b
}

/// For each new entry: combine it into the last stored entry with the same
/// key (the one the kernel ended up with), or append it.
fn upsert<T: Clone>(
    stored: &mut Vec<T>,
    new: &[T],
    same: impl Fn(&T, &T) -> bool,
    combine: impl Fn(&T, &T) -> T,
) {
    for n in new {
        match stored.iter_mut().rev().find(|s| same(s, n)) {
            Some(s) => *s = combine(s, n),
            None => stored.push(n.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::res;
    use super::*;

    fn json(r: &LinuxResources) -> serde_json::Value {
        serde_json::to_value(r).unwrap()
    }

    fn merged(base: &str, update: &str) -> serde_json::Value {
        json(&merge(&res(base), &res(update)))
    }

    fn val(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn empty_update_keeps_everything() {
        let base = r#"{"memory":{"limit":100,"swap":200},"cpu":{"shares":512,"cpus":"0"},"pids":{"limit":5},"unified":{"memory.high":"90"}}"#;
        assert_eq!(merged(base, "{}"), val(base));
    }

    #[test]
    fn set_fields_replace_and_unset_fields_stay() {
        let got = merged(
            r#"{"memory":{"limit":100,"swap":200,"reservation":50},"cpu":{"shares":512,"quota":1000,"period":100000,"cpus":"0"},"pids":{"limit":5}}"#,
            r#"{"memory":{"limit":150},"cpu":{"quota":2000,"mems":"0"},"pids":{"limit":9}}"#,
        );
        assert_eq!(
            got,
            val(
                r#"{"memory":{"limit":150,"swap":200,"reservation":50},"cpu":{"shares":512,"quota":2000,"period":100000,"cpus":"0","mems":"0"},"pids":{"limit":9}}"#
            )
        );
    }

    #[test]
    fn update_into_empty_base_takes_the_update() {
        let upd = r#"{"memory":{"limit":100},"blockIO":{"weight":300},"network":{"classID":7}}"#;
        assert_eq!(merged("{}", upd), val(upd));
    }

    #[test]
    fn unlimited_memory_without_swap_stores_swap_unset() {
        let got = merged(
            r#"{"memory":{"limit":100,"swap":200}}"#,
            r#"{"memory":{"limit":-1}}"#,
        );
        assert_eq!(got, val(r#"{"memory":{"limit":-1,"swap":0}}"#));
        // An explicit swap wins.
        let got = merged(
            r#"{"memory":{"limit":100,"swap":200}}"#,
            r#"{"memory":{"limit":-1,"swap":-1}}"#,
        );
        assert_eq!(got, val(r#"{"memory":{"limit":-1,"swap":-1}}"#));
    }

    #[test]
    fn idle_without_shares_stops_rewriting_weight() {
        let got = merged(r#"{"cpu":{"shares":512}}"#, r#"{"cpu":{"idle":1}}"#);
        assert_eq!(got, val(r#"{"cpu":{"shares":0,"idle":1}}"#));
        let got = merged(
            r#"{"cpu":{"shares":512}}"#,
            r#"{"cpu":{"idle":0,"shares":256}}"#,
        );
        assert_eq!(got, val(r#"{"cpu":{"shares":256,"idle":0}}"#));
    }

    #[test]
    fn device_lists_merge_per_device() {
        let got = merged(
            r#"{"blockIO":{"weight":100,"weightDevice":[{"major":8,"minor":0,"weight":200,"leafWeight":20},{"major":8,"minor":16,"weight":300}],"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}]}}"#,
            r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":500},{"major":9,"minor":0,"leafWeight":30}],"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":5},{"major":8,"minor":16,"rate":6}],"throttleWriteIOPSDevice":[{"major":1,"minor":2,"rate":3}]}}"#,
        );
        assert_eq!(
            got,
            val(
                r#"{"blockIO":{"weight":100,"weightDevice":[{"major":8,"minor":0,"weight":500,"leafWeight":20},{"major":8,"minor":16,"weight":300},{"major":9,"minor":0,"leafWeight":30}],"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":5},{"major":8,"minor":16,"rate":6}],"throttleWriteIOPSDevice":[{"major":1,"minor":2,"rate":3}]}}"#
            )
        );
    }

    #[test]
    fn hugepages_priorities_rdma_and_unified_merge_per_key() {
        let got = merged(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":10},{"pageSize":"1GB","limit":0}],"network":{"classID":1,"priorities":[{"name":"eth0","priority":1}]},"rdma":{"mlx":{"hcaHandles":1,"hcaObjects":2}},"unified":{"memory.high":"9","pids.max":"3"}}"#,
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":20},{"pageSize":"64KB","limit":1}],"network":{"priorities":[{"name":"lo","priority":2},{"name":"eth0","priority":5}]},"rdma":{"mlx":{"hcaObjects":7},"other":{"hcaHandles":4}},"unified":{"memory.high":"10"}}"#,
        );
        assert_eq!(
            got,
            val(
                r#"{"hugepageLimits":[{"pageSize":"2MB","limit":20},{"pageSize":"1GB","limit":0},{"pageSize":"64KB","limit":1}],"network":{"classID":1,"priorities":[{"name":"eth0","priority":5},{"name":"lo","priority":2}]},"rdma":{"mlx":{"hcaHandles":1,"hcaObjects":7},"other":{"hcaHandles":4}},"unified":{"memory.high":"10","pids.max":"3"}}"#
            )
        );
    }

    #[test]
    fn device_rules_are_replaced_whole() {
        let got = merged(
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#,
            r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":5,"access":"r"}]}"#,
        );
        assert_eq!(
            got,
            val(r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":5,"access":"r"}]}"#)
        );
    }

    #[test]
    fn every_memory_and_cpu_field_is_taken() {
        let upd = r#"{"memory":{"limit":1,"reservation":2,"swap":3,"kernel":4,"kernelTCP":5,"swappiness":6,"disableOOMKiller":true,"useHierarchy":true,"checkBeforeUpdate":true},"cpu":{"shares":7,"quota":8,"idle":0,"burst":9,"period":10,"realtimeRuntime":11,"realtimePeriod":12,"cpus":"1","mems":"0"}}"#;
        let base = r#"{"memory":{"limit":100,"reservation":200,"swap":300,"kernel":400,"kernelTCP":500,"swappiness":60,"disableOOMKiller":false,"useHierarchy":false,"checkBeforeUpdate":false},"cpu":{"shares":70,"quota":80,"idle":1,"burst":90,"period":100,"realtimeRuntime":110,"realtimePeriod":120,"cpus":"0-3","mems":"0-1"}}"#;
        assert_eq!(merged(base, upd), val(upd));
    }
}
