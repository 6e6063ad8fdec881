//! A zone's UTC offsets as stretches of constant offset, found once per zone and
//! period and shared by every calendar of the process.
//!
//! Why: the business-time walk needs, at each step, the offset and how long it stays
//! constant. Asking chrono-tz at every probe (every three hours of walked time, plus a
//! bisection at each change) made time-zone look-ups the largest cost of a deadline.
//! A period's stretches are found once, with the same probes; afterwards a step costs
//! a read lock on a shared map and a binary search in a list that
//! holds one entry per offset change (two a year where daylight saving applies).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// How far apart offset probes are; see the module documentation of `arith`.
const PROBE_SECS: i64 = 3 * 3_600;
/// The length of the periods stretches are cached by (one non-leap year).
const PERIOD_SECS: i64 = 365 * 86_400;

/// One period's stretches: `(first second, offset)`, in order, the first starting at
/// the period's start.
struct Period {
    end: i64,
    stretches: Vec<(i64, i64)>,
}

type Cache = RwLock<HashMap<(Tz, i64), Arc<Period>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// The UTC offset in seconds of `tz` at `t` (Unix seconds). Out of chrono's range the
/// offset is taken as zero: such instants have no local date and never work.
pub(crate) fn offset_at(tz: Tz, t: i64) -> i64 {
    match DateTime::from_timestamp(t, 0) {
        Some(dt) => i64::from(
            tz.offset_from_utc_datetime(&dt.naive_utc())
                .fix()
                .local_minus_utc(),
        ),
        None => 0,
    }
}

/// The offset of `tz` at `t` and the end of the stretch it belongs to: the first
/// second after `t` at which the offset may differ (an offset change, or the end of
/// the cached period, where the next period's stretches take over).
pub(crate) fn stretch_at(tz: Tz, t: i64) -> (i64, i64) {
    let index = t.div_euclid(PERIOD_SECS);
    let found = cache()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&(tz, index))
        .cloned();
    let period = match found {
        Some(period) => period,
        None => {
            // Found outside the lock: two threads may both compute a period; they
            // compute the same one, and the first stored wins.
            let computed = Arc::new(find_period(tz, index));
            cache()
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((tz, index))
                .or_insert(computed)
                .clone()
        }
    };
    // The last stretch starting at or before `t` (the first starts at the period's
    // start, which is at or before `t`).
    let i = period.stretches.partition_point(|&(from, _)| from <= t);
    let (_, offset) = period.stretches[i.saturating_sub(1)];
    let end = period
        .stretches
        .get(i)
        .map_or(period.end, |&(from, _)| from);
    (offset, end)
}

/// Probes the period every [`PROBE_SECS`] and bisects each change to the second.
fn find_period(tz: Tz, index: i64) -> Period {
    let start = index.saturating_mul(PERIOD_SECS);
    let end = start.saturating_add(PERIOD_SECS);
    let mut offset = offset_at(tz, start);
    let mut stretches = vec![(start, offset)];
    let mut same = start;
    while same < end {
        let probe = same.saturating_add(PROBE_SECS).min(end);
        let probed = offset_at(tz, probe);
        if probed == offset {
            same = probe;
            continue;
        }
        // offset(same) == offset, offset(changed) != offset.
        let mut changed = probe;
        while changed - same > 1 {
            let mid = same + (changed - same) / 2;
            if offset_at(tz, mid) == offset {
                same = mid;
            } else {
                changed = mid;
            }
        }
        if changed >= end {
            break;
        }
        offset = offset_at(tz, changed);
        stretches.push((changed, offset));
        same = changed;
    }
    Period { end, stretches }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every second's offset from the stretches equals chrono-tz's, around real
    /// changes (New York's and Berlin's 2026 daylight-saving switches, Lord Howe's
    /// half hour) and at period edges.
    #[test]
    fn stretches_agree_with_the_zone_around_changes_and_period_edges() {
        let zones: [Tz; 4] = [
            chrono_tz::America::New_York,
            chrono_tz::Europe::Berlin,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Shanghai,
        ];
        // 2026-03-08 06:00Z (NY spring), 2026-10-25 00:00Z (Berlin fall), 2026-04-04
        // 15:00Z (Lord Howe), and a period edge.
        let centres = [
            1_772_949_600_i64,
            1_792_886_400,
            1_775_314_800,
            56 * PERIOD_SECS,
        ];
        for tz in zones {
            for centre in centres {
                let mut t = centre - 3 * 3_600;
                while t < centre + 3 * 3_600 {
                    let (offset, end) = stretch_at(tz, t);
                    assert_eq!(offset, offset_at(tz, t), "{tz} at {t}");
                    assert!(end > t, "{tz} at {t}: the stretch ends after it starts");
                    assert_eq!(offset_at(tz, end - 1), offset, "{tz}: constant to {end}");
                    t += 7;
                }
            }
        }
    }
}
