use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Counted {
    by: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Counter<T> {
    total: u64,
    tag: T,
}

#[aggregate(name = "Counter")]
impl<T> Counter<T>
where
    T: Default + Send + Sync + 'static,
{
    #[apply]
    fn counted(&mut self, event: &Counted) {
        self.total += event.by;
    }
}

fn main() {
    let mut counter = AggregateRoot::<Counter<String>>::new("c-1");
    counter.record(Counted { by: 2 });
    assert_eq!(counter.total, 2);
    assert!(counter.tag.is_empty());
}
