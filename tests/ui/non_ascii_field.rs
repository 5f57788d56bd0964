cotrace::provider! {
    pub mod app {
        fn sized(größe: u32);
    }
}

fn main() {}
