fn main() {
    let c = rusqlite::Connection::open(std::env::args().nth(1).unwrap()).unwrap();
    for sql in std::env::args().skip(2) {
        let mut s = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        println!("{sql}");
        let rows: Vec<String> = s
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|x| x.unwrap())
            .collect();
        for r in rows {
            println!("   {r}");
        }
        let t = std::time::Instant::now();
        let mut s = c.prepare(&sql).unwrap();
        let n = s.query_map([], |_| Ok(())).unwrap().count();
        println!("   {n} rows {:.2} ms", t.elapsed().as_secs_f64() * 1000.0);
    }
}
