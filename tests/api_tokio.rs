//! The Rust API on tokio: the contract's behaviours that are not JavaScript-specific.

use hyperbatch::{Batch, Batcher};

#[tokio::test]
async fn smoke() {
    let b = Batcher::builder()
        .build(|batch: Batch<u32>| async move { Ok(batch.items.iter().map(|n| Ok(n * 2)).collect()) });
    let (x, y) = tokio::join!(b.add(1), b.add(2));
    assert_eq!((x.unwrap(), y.unwrap()), (2, 4));
    assert_eq!(b.stats().batches, 1);
    b.close().await;
}
