//! The time-only layer (`rollup_time`, `schema_v9.sql`): the sums of all usage per quarter-hour,
//! UTC hour and UTC day. It answers reports by day, week or month with no filter but their
//! range, in any time zone, and the cost of a stretch of time (the forecast's figures).
//!
//! A local day is cut into stretches of one UTC offset (a day with a clock change has two), and
//! each stretch into the coarsest whole cells inside it: its whole UTC days, the whole hours at
//! either edge, the quarter-hours left over. Every real offset is a multiple of 15 minutes, so
//! the quarters always fit: UTC reads one row per day, New York ~24, Kolkata ~27 (23 hours and
//! four quarters).

use super::query::{self, Cost, Filter, GroupBy, Row, Sums, Zone, BUCKET_MS, DAY_MS, HOUR_MS};
use super::Store;
use chrono::NaiveDate;

/// The width of each unit of `rollup_time`, finest first (the unit's number is its index).
const WIDTH: [i64; 3] = [BUCKET_MS, HOUR_MS, DAY_MS];

/// Cells of one unit: (unit, offset in quarter-hours, first t, end t), `t` in the unit's
/// widths (local days of the offset for unit 2).
type Cells = (usize, i64, i64, i64);

/// Cells and the index of the row they add to.
type Piece<'a> = &'a (Cells, usize);

fn up(v: i64, w: i64) -> i64 {
    (v + w - 1).div_euclid(w) * w
}

fn down(v: i64, w: i64) -> i64 {
    v.div_euclid(w) * w
}

/// `[a, b)` (whole quarter-hours) as the coarsest whole cells of units `..= unit`, in time
/// order.
fn cut(a: i64, b: i64, unit: usize, out: &mut Vec<Cells>) {
    if a >= b {
        return;
    }
    let w = WIDTH[unit];
    let (s, e) = (up(a, w), down(b, w));
    if unit == 0 || s >= e {
        if unit == 0 {
            out.push((0, 0, a.div_euclid(w), up(b, w).div_euclid(w)));
        } else {
            cut(a, b, unit - 1, out);
        }
        return;
    }
    cut(a, s, unit - 1, out);
    out.push((unit, 0, s / w, e / w));
    cut(e, b, unit - 1, out);
}

/// `[lo, hi)` (whole quarter-hours) as stretches of one UTC offset and one local date of
/// `zone`: (start, end, date, offset ms). The date of a quarter-hour is the date at its start, as the
/// 15-minute layer counts it.
fn stretches(zone: Zone, lo: i64, hi: i64) -> Vec<(i64, i64, NaiveDate, i64)> {
    let mut out = Vec::new();
    let mut t = lo;
    while t < hi {
        let off = zone.offset_ms(t);
        let day = (t + off).div_euclid(DAY_MS);
        // Days since 0001-01-01 of 1970-01-01.
        let date =
            NaiveDate::from_num_days_from_ce_opt((day + 719_163) as i32).unwrap_or(NaiveDate::MIN);
        let mut end = up((day + 1) * DAY_MS - off, BUCKET_MS).min(hi);
        if zone.offset_ms(end - 1) != off {
            // The clock changes inside: the stretch ends at the first quarter-hour that starts
            // at the new offset.
            let mut q = up(t + 1, BUCKET_MS);
            while q < end && zone.offset_ms(q) == off {
                q += BUCKET_MS;
            }
            end = q;
        }
        out.push((t, end, date, off));
        t = end;
    }
    out
}

/// Pieces of at least this many cells are summed by SQLite.
const SUMMED: i64 = 3;

/// Pieces of one unit closer than this many cells are read in one range (the rows between are
/// skipped): a query costs more than a few rows.
const GAP: i64 = 8;

/// One cell's figures: requests, input, cw5, cw1h, cr, output, reasoning, cost in billionths,
/// unpriced, estimated, reported.
type Figures = [i64; 11];

const FIGURES: &str =
    "t, requests, input, cw5, cw1h, cr, output, reasoning, cost_nano, unpriced, estimated, reported";

fn sums_of(v: &Figures) -> Sums {
    Sums {
        requests: v[0],
        input: v[1],
        cache_write_5m: v[2],
        cache_write_1h: v[3],
        cache_read: v[4],
        output: v[5],
        reasoning: v[6],
        cost_usd: v[7] as f64 * 1e-9,
        has_unpriced: v[8] > 0,
        unpriced_requests: v[8],
        estimated_requests: v[9],
        reported_requests: v[10],
    }
}

impl Store {
    /// Whether the database has the time-only layer (schema v9; a reader of an older file
    /// reads the other layers).
    pub(crate) fn has_time_layer(&self) -> anyhow::Result<bool> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(v >= 9)
    }

    /// The first and the end quarter-hour (ms) of `f`'s range that holds usage, `None` when
    /// none does. A bound inside a quarter-hour takes the whole quarter, as the 15-minute
    /// layer does.
    fn time_extent(&self, f: &Filter) -> anyhow::Result<Option<(i64, i64)>> {
        // Two queries: SQLite finds a lone min() or max() with one seek, both together by
        // reading every row.
        let end = |f: &str| -> anyhow::Result<Option<i64>> {
            Ok(self
                .conn
                .prepare_cached(&format!(
                    "SELECT {f}(t) FROM rollup_time WHERE unit = 0 AND off = 0"
                ))?
                .query_row([], |r| r.get(0))?)
        };
        let (a, b) = (end("min")?, end("max")?);
        let (Some(a), Some(b)) = (a, b) else {
            return Ok(None);
        };
        let lo = f
            .since_ms
            .map_or(i64::MIN, |s| down(s, BUCKET_MS))
            .max(a * BUCKET_MS);
        let hi = f
            .until_ms
            .map_or(i64::MAX, |u| up(u, BUCKET_MS))
            .min((b + 1) * BUCKET_MS);
        Ok((lo < hi).then_some((lo, hi)))
    }

    /// Reads the cells of `pieces` (each with the index of what it adds to): `on_cell` gets
    /// the index, the start (ms) of the piece's latest cell with requests, and the figures.
    /// A piece of many cells is summed by SQLite (one row out instead of one per cell);
    /// pieces of one or two cells close together are read in one range.
    fn read_pieces(
        &self,
        pieces: &[(Cells, usize)],
        mut on_cell: impl FnMut(usize, i64, &Figures),
    ) -> anyhow::Result<()> {
        let mut sum = self.conn.prepare_cached(
            "SELECT max(t), sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
                    sum(reasoning), sum(cost_nano), sum(unpriced), sum(estimated), sum(reported)
             FROM rollup_time
             WHERE unit = ?1 AND off = ?2 AND t >= ?3 AND t < ?4 AND requests != 0",
        )?;
        let mut each = self.conn.prepare_cached(&format!(
            "SELECT {FIGURES} FROM rollup_time WHERE unit = ?1 AND off = ?2 AND t >= ?3 AND t < ?4"
        ))?;
        let mut one = self.conn.prepare_cached(&format!(
            "SELECT {FIGURES} FROM rollup_time WHERE unit = 2 AND t = ?2 AND off = ?1"
        ))?;
        let figures = |r: &rusqlite::Row| -> rusqlite::Result<Figures> {
            let mut v: Figures = [0; 11];
            for (n, x) in v.iter_mut().enumerate() {
                *x = r.get(n + 1)?;
            }
            Ok(v)
        };
        let mut sorted: Vec<&(Cells, usize)> = pieces.iter().collect();
        sorted.sort_by_key(|p| (p.0 .0, p.0 .1, p.0 .2));
        for group in sorted.chunk_by(|a, b| (a.0 .0, a.0 .1) == (b.0 .0, b.0 .1)) {
            let (unit, off) = (group[0].0 .0, group[0].0 .1);
            let width = WIDTH[unit];
            if unit == 2 {
                // Local days: one row each, found by key (the rows of the 40 offsets of a day
                // are side by side, so a range over days would pass every offset's).
                for ((_, _, a, b), k) in group {
                    for t in *a..*b {
                        let mut q = one.query(rusqlite::params![off, t])?;
                        if let Some(r) = q.next()? {
                            if r.get::<_, i64>(1)? != 0 {
                                on_cell(*k, t * width - off * BUCKET_MS, &figures(r)?);
                            }
                        }
                    }
                }
                continue;
            }
            let (big, mine): (Vec<Piece>, Vec<Piece>) =
                group.iter().partition(|p| p.0 .3 - p.0 .2 >= SUMMED);
            for ((_, _, a, b), k) in big {
                let mut q = sum.query(rusqlite::params![unit as i64, off, a, b])?;
                if let Some(r) = q.next()? {
                    if let Some(last) = r.get::<_, Option<i64>>(0)? {
                        on_cell(*k, last * width, &figures(r)?);
                    }
                }
            }
            let mut i = 0;
            while i < mine.len() {
                // One range over the pieces that are close together.
                let mut j = i + 1;
                while j < mine.len() && mine[j].0 .2 - mine[j - 1].0 .3 <= GAP {
                    j += 1;
                }
                let (from, to) = (mine[i].0 .2, mine[j - 1].0 .3);
                let mut q = each.query(rusqlite::params![unit as i64, off, from, to])?;
                let mut k = i;
                while let Some(r) = q.next()? {
                    let t: i64 = r.get(0)?;
                    while k < j && mine[k].0 .3 <= t {
                        k += 1;
                    }
                    if k == j {
                        break;
                    }
                    if t < mine[k].0 .2 {
                        continue; // between two pieces
                    }
                    on_cell(mine[k].1, t * width - off * BUCKET_MS, &figures(r)?);
                }
                i = j;
            }
        }
        Ok(())
    }

    /// A report by day, week or month over `f`'s range (no other filter) from the time-only
    /// layer.
    pub(crate) fn report_time(
        &self,
        group: GroupBy,
        f: &Filter,
        zone: Zone,
    ) -> anyhow::Result<query::Report> {
        debug_assert!(f.tool.is_none() && f.repo.is_none() && f.session.is_none());
        debug_assert!(f.machine.is_none());
        let mut keys: Vec<String> = Vec::new();
        let mut pieces: Vec<(Cells, usize)> = Vec::new();
        if let Some((lo, hi)) = self.time_extent(f)? {
            let mut index: std::collections::HashMap<String, usize> = Default::default();
            let mut cells = Vec::new();
            for (a, b, date, off) in stretches(zone, lo, hi) {
                let key = query::period_key(group, date);
                let n = index.len();
                let k = *index.entry(key.clone()).or_insert(n);
                if k == keys.len() {
                    keys.push(key);
                }
                let q = off.div_euclid(BUCKET_MS);
                if off % BUCKET_MS == 0
                    && query::OFFSETS.contains(&q)
                    && (a + off).rem_euclid(DAY_MS) == 0
                    && (b + off).rem_euclid(DAY_MS) == 0
                {
                    // A whole local day at one offset: one row.
                    let d = (a + off).div_euclid(DAY_MS);
                    pieces.push(((2, q, d, d + 1), k));
                    continue;
                }
                cells.clear();
                cut(a, b, 1, &mut cells);
                pieces.extend(cells.iter().map(|c| (*c, k)));
            }
        }
        // Per key: its figures, whether a cell of it holds requests, its latest cell.
        let mut acc: Vec<(Figures, bool, i64)> = vec![([0; 11], false, i64::MIN); keys.len()];
        self.read_pieces(&pieces, |k, start, v| {
            let a = &mut acc[k];
            for (x, y) in a.0.iter_mut().zip(v) {
                *x += y;
            }
            if v[0] != 0 {
                a.1 = true;
                a.2 = a.2.max(start);
            }
        })?;
        let rows = keys
            .into_iter()
            .zip(acc)
            .filter(|(_, a)| a.1)
            .map(|(key, (v, _, last))| {
                let mut row = Row::new(key, sums_of(&v));
                row.last_ms = last;
                row
            })
            .collect();
        self.finish_report(group, f, zone, rows)
    }

    /// The cost of all usage over `[from_ms, to_ms)` (whole quarter-hours, a bound inside one
    /// takes all of it) from the time-only layer.
    pub(crate) fn time_cost(&self, from_ms: i64, to_ms: i64) -> anyhow::Result<Cost> {
        let mut cells = Vec::new();
        cut(
            down(from_ms, BUCKET_MS),
            up(to_ms, BUCKET_MS),
            WIDTH.len() - 1,
            &mut cells,
        );
        let mut st = self.conn.prepare_cached(
            "SELECT total(cost_nano), total(unpriced) FROM rollup_time
             WHERE unit = ?1 AND off = ?2 AND t >= ?3 AND t < ?4",
        )?;
        let (mut nano, mut unpriced) = (0.0, 0.0);
        for (unit, off, a, b) in cells {
            let (n, u): (f64, f64) = st
                .query_row(rusqlite::params![unit as i64, off, a, b], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            nano += n;
            unpriced += u;
        }
        Ok(Cost {
            usd: (nano * 1e-9 * 1e6).round() / 1e6,
            has_unpriced: unpriced > 0.0,
        })
    }

    /// The cost of all usage per quarter-hour over buckets `[from_bucket, to_bucket]`,
    /// quarter-hours without usage left out.
    pub(crate) fn time_bucket_costs(
        &self,
        from_bucket: i64,
        to_bucket: i64,
    ) -> anyhow::Result<Vec<(i64, f64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT t, cost_nano FROM rollup_time
             WHERE unit = 0 AND off = 0 AND t >= ?1 AND t <= ?2 AND requests != 0",
        )?;
        let v = st
            .query_map([from_bucket, to_bucket], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as f64 * 1e-9))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_into_the_coarsest_whole_cells() {
        let mut v = Vec::new();
        // 18:30 UTC to 18:30 the next day (a Kolkata day): two quarters, 23 hours, two.
        let d = 20_000 * DAY_MS;
        cut(
            d + 18 * HOUR_MS + 30 * 60_000,
            d + DAY_MS + 18 * HOUR_MS + 30 * 60_000,
            2,
            &mut v,
        );
        let q = d / BUCKET_MS;
        let h = d / HOUR_MS;
        assert_eq!(
            v,
            [
                (0, 0, q + 74, q + 76),
                (1, 0, h + 19, h + 42),
                (0, 0, q + 96 + 72, q + 96 + 74),
            ]
        );
        // Whole UTC days and an hour.
        v.clear();
        cut(d, d + 2 * DAY_MS + HOUR_MS, 2, &mut v);
        assert_eq!(v, [(2, 0, 20_000, 20_002), (1, 0, h + 48, h + 49)]);
    }

    #[test]
    fn a_clock_change_splits_the_day() {
        let ny = Zone::parse("America/New_York").unwrap();
        // 2024-11-03: 25 hours, the offset goes from -4 to -5 at 06:00 UTC.
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let (a, b) = (ny.start_of(d(2024, 11, 3)), ny.start_of(d(2024, 11, 4)));
        let s = stretches(ny, a, b);
        assert_eq!(b - a, 25 * HOUR_MS);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].0, s[0].1, s[1].1), (a, a + 2 * HOUR_MS, b));
        assert_eq!((s[0].3, s[1].3), (-4 * HOUR_MS, -5 * HOUR_MS));
        assert!(s.iter().all(|x| x.2 == d(2024, 11, 3)));
        // Kolkata: one stretch per day, starting at 18:30 UTC.
        let k = Zone::parse("Asia/Kolkata").unwrap();
        let s = stretches(k, 0, 3 * DAY_MS);
        assert_eq!(s.len(), 4);
        let off = 5 * HOUR_MS + 30 * 60_000;
        assert_eq!(s[0], (0, 18 * HOUR_MS + 30 * 60_000, d(1970, 1, 1), off));
        assert_eq!(s[1].2, d(1970, 1, 2));
    }

    /// Every zone of the time zone database is at one of the kept offsets in 2024-2027 (so
    /// its whole local days are one row each).
    #[test]
    fn the_kept_offsets_cover_every_zone_in_use() {
        let mut missing = Vec::new();
        for tz in chrono_tz::TZ_VARIANTS {
            let z = Zone::Named(tz);
            for week in 0..(4 * 53) {
                let t = 1_704_067_200_000 + week * 7 * DAY_MS; // from 2024-01-01
                let off = z.offset_ms(t);
                let q = off / BUCKET_MS;
                if off % BUCKET_MS != 0 || !query::OFFSETS.contains(&q) {
                    missing.push((tz.name(), off / 60_000));
                    break;
                }
            }
        }
        assert!(missing.is_empty(), "{missing:?}");
        assert!(query::OFFSETS.windows(2).all(|w| w[0] < w[1]));
    }
}
