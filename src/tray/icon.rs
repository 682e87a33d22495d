//! The tray icon, drawn at run time: a ring gauge of today's spend against the daily budget.
//!
//! The ring fills clockwise from 12 o'clock with the fraction of the budget used; ring and
//! centre dot take the colour of the [`BudgetState`] (green under, amber near, red over). With
//! no budget the ring is a plain grey circle. Anti-aliased by 4x4 supersampling; straight RGBA.

use crate::status::BudgetState;

/// Edge length of the drawn icon in pixels (hosts scale it to the panel size).
pub const ICON_SIZE: u32 = 32;

/// Icon colour under the budget.
pub const COLOR_UNDER: [u8; 3] = [0x3f, 0xb9, 0x50];
/// Icon colour near the budget.
pub const COLOR_NEAR: [u8; 3] = [0xe3, 0xa0, 0x08];
/// Icon colour over the budget.
pub const COLOR_OVER: [u8; 3] = [0xf8, 0x51, 0x49];
/// Icon colour without a budget.
pub const COLOR_NEUTRAL: [u8; 3] = [0xa8, 0xb0, 0xb8];
/// The unfilled part of the ring.
pub const COLOR_TRACK: [u8; 4] = [0x80, 0x80, 0x80, 0x90];

/// Colour of the filled ring and the centre dot for a state.
pub fn state_color(state: BudgetState) -> [u8; 3] {
    match state {
        BudgetState::NoBudget => COLOR_NEUTRAL,
        BudgetState::Under => COLOR_UNDER,
        BudgetState::Near => COLOR_NEAR,
        BudgetState::Over => COLOR_OVER,
    }
}

/// A square straight-alpha RGBA image, rows top to bottom.
#[derive(Clone, Debug, PartialEq)]
pub struct Rgba {
    /// Width and height in pixels.
    pub size: u32,
    /// RGBA bytes, row by row.
    pub pixels: Vec<u8>,
}

impl Rgba {
    /// The RGBA value at (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.size + x) * 4) as usize;
        [
            self.pixels[i],
            self.pixels[i + 1],
            self.pixels[i + 2],
            self.pixels[i + 3],
        ]
    }
}

/// What the icon shows; equal keys draw equal icons (used to skip redundant icon updates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GaugeKey {
    /// Budget state (the colour).
    pub state: BudgetState,
    /// Filled part of the ring in 1/256 turns (0..=256).
    pub fill: u16,
}

impl GaugeKey {
    /// The key for a state and a used fraction.
    pub fn new(state: BudgetState, fraction: Option<f64>) -> Self {
        let fill = match (state, fraction) {
            (BudgetState::NoBudget, _) | (_, None) => 0,
            (BudgetState::Over, _) => 256,
            (_, Some(f)) if f.is_finite() => (f.clamp(0.0, 1.0) * 256.0).round() as u16,
            (_, Some(_)) => 256,
        };
        GaugeKey { state, fill }
    }
}

/// Draws the gauge at `size` x `size` pixels.
pub fn render(key: GaugeKey, size: u32) -> Rgba {
    const SS: u32 = 4; // supersamples per axis
    let s = size as f64;
    let c = s / 2.0;
    let outer = s * 0.47;
    let inner = s * 0.31;
    let dot = s * 0.16;
    let sweep = key.fill as f64 / 256.0 * std::f64::consts::TAU;
    let color = state_color(key.state);
    let fill_rgba = [color[0], color[1], color[2], 0xff];
    let ring_all = key.state == BudgetState::NoBudget;

    let mut pixels = vec![0u8; (size * size * 4) as usize];
    for py in 0..size {
        for px in 0..size {
            // Premultiplied accumulation over the supersamples.
            let mut acc = [0f64; 4];
            for sy in 0..SS {
                for sx in 0..SS {
                    let x = px as f64 + (sx as f64 + 0.5) / SS as f64 - c;
                    let y = py as f64 + (sy as f64 + 0.5) / SS as f64 - c;
                    let r = (x * x + y * y).sqrt();
                    let sample = if r <= dot {
                        Some(fill_rgba)
                    } else if r >= inner && r <= outer {
                        // 0 at 12 o'clock, growing clockwise (y points down).
                        let mut a = x.atan2(-y);
                        if a < 0.0 {
                            a += std::f64::consts::TAU;
                        }
                        if ring_all || a < sweep {
                            Some(fill_rgba)
                        } else {
                            Some(COLOR_TRACK)
                        }
                    } else {
                        None
                    };
                    if let Some(p) = sample {
                        let alpha = p[3] as f64 / 255.0;
                        for k in 0..3 {
                            acc[k] += p[k] as f64 * alpha;
                        }
                        acc[3] += alpha;
                    }
                }
            }
            let n = (SS * SS) as f64;
            let i = ((py * size + px) * 4) as usize;
            let alpha = acc[3] / n;
            if alpha > 0.0 {
                for k in 0..3 {
                    pixels[i + k] = (acc[k] / acc[3]).round().clamp(0.0, 255.0) as u8;
                }
                pixels[i + 3] = (alpha * 255.0).round() as u8;
            }
        }
    }
    Rgba { size, pixels }
}

/// The icon for today's total against the budget, `near` being the configured fraction.
pub fn gauge_key(today_usd: f64, budget: Option<f64>, near: f64) -> GaugeKey {
    GaugeKey::new(
        BudgetState::of(today_usd, budget, near),
        crate::status::budget_fraction(today_usd, budget),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    // The "near" fraction these pictures are drawn with.
    const N: f64 = 0.8;

    const S: u32 = ICON_SIZE;
    // Mid-ring sample points (radius ~0.39 * size from the centre).
    const TOP: (u32, u32) = (16, 3);
    const RIGHT: (u32, u32) = (28, 16);
    const BOTTOM: (u32, u32) = (16, 28);
    const LEFT: (u32, u32) = (3, 16);

    fn rgb(p: [u8; 4]) -> [u8; 3] {
        [p[0], p[1], p[2]]
    }

    fn at(img: &Rgba, p: (u32, u32)) -> [u8; 4] {
        img.pixel(p.0, p.1)
    }

    #[test]
    fn state_and_fill_from_amounts() {
        assert_eq!(
            gauge_key(3.0, None, N),
            GaugeKey {
                state: BudgetState::NoBudget,
                fill: 0
            }
        );
        assert_eq!(
            gauge_key(5.0, Some(10.0), N),
            GaugeKey {
                state: BudgetState::Under,
                fill: 128
            }
        );
        assert_eq!(gauge_key(8.5, Some(10.0), N).state, BudgetState::Near);
        assert_eq!(
            gauge_key(25.0, Some(10.0), N),
            GaugeKey {
                state: BudgetState::Over,
                fill: 256
            }
        );
        assert_eq!(gauge_key(1.0, Some(0.0), N).fill, 256);
    }

    #[test]
    fn colours_per_state() {
        for (today, budget, want) in [
            (1.0, Some(10.0), COLOR_UNDER),
            (8.0, Some(10.0), COLOR_NEAR),
            (10.0, Some(10.0), COLOR_OVER),
            (3.0, None, COLOR_NEUTRAL),
        ] {
            let img = render(gauge_key(today, budget, N), S);
            let centre = img.pixel(S / 2, S / 2);
            assert_eq!(
                centre,
                [want[0], want[1], want[2], 0xff],
                "{today} {budget:?}"
            );
        }
    }

    #[test]
    fn half_budget_fills_right_half_of_ring() {
        let img = render(gauge_key(5.0, Some(10.0), N), S);
        assert_eq!(img.size, S);
        assert_eq!(img.pixels.len(), (S * S * 4) as usize);
        // Filled clockwise from the top: top-right quadrant and 3 o'clock are green...
        assert_eq!(rgb(at(&img, RIGHT)), COLOR_UNDER);
        assert_eq!(at(&img, RIGHT)[3], 0xff);
        assert_eq!(rgb(img.pixel(24, 7)), COLOR_UNDER);
        // ...9 o'clock and the top-left quadrant are track.
        assert_eq!(at(&img, LEFT), COLOR_TRACK);
        assert_eq!(img.pixel(7, 7), COLOR_TRACK);
        // Outside the ring is transparent; between ring and dot too.
        assert_eq!(img.pixel(0, 0)[3], 0);
        assert_eq!(img.pixel(31, 31)[3], 0);
        assert_eq!(img.pixel(16, 9)[3], 0);
    }

    #[test]
    fn fill_grows_with_spend() {
        let low = render(gauge_key(1.0, Some(10.0), N), S);
        assert_eq!(at(&low, RIGHT), COLOR_TRACK);
        assert_eq!(at(&low, BOTTOM), COLOR_TRACK);
        let near = render(gauge_key(8.0, Some(10.0), N), S);
        for p in [RIGHT, BOTTOM, LEFT] {
            assert_eq!(rgb(at(&near, p)), COLOR_NEAR, "{p:?}");
        }
        assert_eq!(near.pixel(7, 7), COLOR_TRACK); // 7:30 to 12 still open
        let over = render(gauge_key(30.0, Some(10.0), N), S);
        for p in [TOP, RIGHT, BOTTOM, LEFT, (7, 7)] {
            assert_eq!(rgb(at(&over, p)), COLOR_OVER, "{p:?}");
        }
    }

    #[test]
    fn no_budget_is_a_full_neutral_ring() {
        let img = render(gauge_key(123.0, None, N), S);
        for p in [TOP, RIGHT, BOTTOM, LEFT, (7, 7)] {
            assert_eq!(at(&img, p), [0xa8, 0xb0, 0xb8, 0xff], "{p:?}");
        }
    }
}
