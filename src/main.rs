fn main() {
    println!("tokwatch");
}
