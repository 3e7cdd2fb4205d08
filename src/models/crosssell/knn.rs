//! Exact k-nearest neighbours among unit vectors of a few dimensions (the cross-sell latent
//! space has rank ≤ 8): a k-d tree for every account at once, and the brute force it must
//! agree with. Ties go to the lower row, so both give the same neighbours; an account
//! profile shared by thousands (one feature used) must not make the answer depend on the
//! search path.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Points per leaf: scanning a few dozen short vectors beats descending further.
const LEAF: usize = 24;

/// Squared Euclidean distance; the same function everywhere, so equal inputs give equal
/// distances in the tree and the brute force.
#[inline]
pub fn d2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// A candidate neighbour ordered by (distance, row): the heap's top is the worst kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub d2: f64,
    pub row: u32,
}

impl Eq for Near {}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.d2.total_cmp(&other.d2).then(self.row.cmp(&other.row))
    }
}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

enum Node {
    Leaf {
        start: usize,
        end: usize,
    },
    Split {
        dim: usize,
        value: f64,
        left: usize,
        right: usize,
    },
}

/// Points are rows of `pts` (row-major, `dim` columns); only the rows in `rows` are indexed.
pub struct Tree<'a> {
    pts: &'a [f64],
    dim: usize,
    order: Vec<u32>,
    nodes: Vec<Node>,
}

impl<'a> Tree<'a> {
    pub fn new(pts: &'a [f64], dim: usize, rows: Vec<u32>) -> Self {
        let mut t = Tree {
            pts,
            dim,
            order: rows,
            nodes: Vec::new(),
        };
        if !t.order.is_empty() {
            t.build(0, t.order.len());
        }
        t
    }

    fn point(&self, row: u32) -> &'a [f64] {
        let r = row as usize;
        &self.pts[r * self.dim..(r + 1) * self.dim]
    }

    fn build(&mut self, start: usize, end: usize) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node::Leaf { start, end });
        if end - start <= LEAF {
            return id;
        }
        // Split on the widest dimension at its median.
        let (mut dim, mut spread) = (0, 0.0);
        for d in 0..self.dim {
            let (lo, hi) = self.order[start..end]
                .iter()
                .map(|&r| self.point(r)[d])
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
            if hi - lo > spread {
                (dim, spread) = (d, hi - lo);
            }
        }
        if spread <= 0.0 {
            // Identical points: every one is a tie, nothing to prune.
            return id;
        }
        let mid = (start + end) / 2;
        let pts = self.pts;
        let width = self.dim;
        let coord = |r: u32| pts[r as usize * width + dim];
        self.order[start..end]
            .select_nth_unstable_by(mid - start, |&a, &b| coord(a).total_cmp(&coord(b)));
        let value = coord(self.order[mid]);
        let left = self.build(start, mid);
        let right = self.build(mid, end);
        self.nodes[id] = Node::Split {
            dim,
            value,
            left,
            right,
        };
        id
    }

    /// The `k` nearest indexed rows to `q` other than `skip`, nearest first.
    pub fn nearest(&self, q: &[f64], k: usize, skip: Option<u32>) -> Vec<Near> {
        let mut heap = BinaryHeap::with_capacity(k + 1);
        if k > 0 && !self.nodes.is_empty() {
            self.search(0, q, k, skip, &mut heap);
        }
        heap.into_sorted_vec()
    }

    fn search(
        &self,
        node: usize,
        q: &[f64],
        k: usize,
        skip: Option<u32>,
        heap: &mut BinaryHeap<Near>,
    ) {
        match self.nodes[node] {
            Node::Leaf { start, end } => {
                for &row in &self.order[start..end] {
                    if Some(row) != skip {
                        offer(
                            heap,
                            k,
                            Near {
                                d2: d2(q, self.point(row)),
                                row,
                            },
                        );
                    }
                }
            }
            Node::Split {
                dim,
                value,
                left,
                right,
            } => {
                let diff = q[dim] - value;
                let (near, far) = if diff <= 0.0 {
                    (left, right)
                } else {
                    (right, left)
                };
                self.search(near, q, k, skip, heap);
                // Every point across the plane is at least diff² away; visit on equality, where
                // a tie with a lower row may wait.
                if heap.len() < k || diff * diff <= heap.peek().map_or(f64::INFINITY, |w| w.d2) {
                    self.search(far, q, k, skip, heap);
                }
            }
        }
    }
}

fn offer(heap: &mut BinaryHeap<Near>, k: usize, c: Near) {
    if heap.len() < k {
        heap.push(c);
    } else if heap.peek().is_some_and(|w| c < *w) {
        heap.pop();
        heap.push(c);
    }
}

/// The brute force: every row of `rows` but `skip`, nearest `k` by (distance, row).
pub fn brute(
    pts: &[f64],
    dim: usize,
    rows: &[u32],
    q: &[f64],
    k: usize,
    skip: Option<u32>,
) -> Vec<Near> {
    let mut heap = BinaryHeap::with_capacity(k + 1);
    if k > 0 {
        for &row in rows {
            if Some(row) != skip {
                let r = row as usize;
                offer(
                    &mut heap,
                    k,
                    Near {
                        d2: d2(q, &pts[r * dim..(r + 1) * dim]),
                        row,
                    },
                );
            }
        }
    }
    heap.into_sorted_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn tree_agrees_with_brute_force_including_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let dim = 3;
        // Unit vectors, a quarter of them copies of a few points (exact ties).
        let mut pts = Vec::new();
        for i in 0..2000 {
            let v: Vec<f64> = if i % 4 == 0 {
                let c = (i / 4) % 5;
                (0..dim)
                    .map(|d| if d == c % dim { 1.0 } else { 0.0 })
                    .collect()
            } else {
                (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()
            };
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            pts.extend(v.iter().map(|x| x / n));
        }
        let rows: Vec<u32> = (0..2000).filter(|r| r % 7 != 3).collect();
        let tree = Tree::new(&pts, dim, rows.clone());
        for q in 0..2000u32 {
            let p = &pts[q as usize * dim..(q as usize + 1) * dim];
            for k in [1, 5, 40] {
                let a = tree.nearest(p, k, Some(q));
                let b = brute(&pts, dim, &rows, p, k, Some(q));
                assert_eq!(a, b, "query {q}, k {k}");
                assert!(a.iter().all(|n| n.row != q));
            }
        }
        assert!(
            Tree::new(&pts, dim, Vec::new())
                .nearest(&pts[..dim], 5, None)
                .is_empty()
        );
    }
}
