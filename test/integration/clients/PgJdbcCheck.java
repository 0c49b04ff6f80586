// pgJDBC through the pooler: N threads, each on its own connection, running Q parameterised
// queries with server-side prepared statements (prepareThreshold=1: named from the first
// execution on) and checking every result. Prints "ok <queries>" and exits 0, or prints the
// errors and exits 1. Used by test_prepared.py; compiled there with javac.
//
//   java -cp postgresql.jar:. PgJdbcCheck <jdbc-url> <user> <password> <threads> <queries>
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;

public class PgJdbcCheck {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("prepareThreshold", "1");
        props.setProperty("sslmode", "disable");
        int threads = Integer.parseInt(args[3]);
        int queries = Integer.parseInt(args[4]);
        List<String> errors = Collections.synchronizedList(new ArrayList<>());
        AtomicLong done = new AtomicLong();
        List<Thread> all = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            Thread th = new Thread(() -> {
                try (Connection c = DriverManager.getConnection(url, props)) {
                    // extra_float_digits=3 came in the startup packet: the value must hold
                    try (Statement s = c.createStatement();
                         ResultSet rs = s.executeQuery("select current_setting('extra_float_digits')")) {
                        rs.next();
                        if (!"3".equals(rs.getString(1)))
                            throw new IllegalStateException("extra_float_digits = " + rs.getString(1));
                    }
                    // pgJDBC sent extra_float_digits=2 at startup, then SET extra_float_digits = 3:
                    // the pooler follows the SET, so every server the connection gets has 3
                    PreparedStatement efd = c.prepareStatement("select current_setting('extra_float_digits')");
                    PreparedStatement mul = c.prepareStatement("select ?::int * 2, ?::text");
                    PreparedStatement dbl = c.prepareStatement("select ?::float8 / 3");
                    for (int k = 0; k < queries; k++) {
                        int v = id * 100000 + k;
                        mul.setInt(1, v);
                        mul.setString(2, "t" + id);
                        try (ResultSet rs = mul.executeQuery()) {
                            if (!rs.next() || rs.getInt(1) != v * 2 || !("t" + id).equals(rs.getString(2)))
                                throw new IllegalStateException("wrong row for " + v);
                        }
                        if (k % 10 == 0) {
                            // a transaction: autocommit off makes pgJDBC send BEGIN in the batch
                            c.setAutoCommit(false);
                            dbl.setDouble(1, v);
                            try (ResultSet rs = dbl.executeQuery()) {
                                rs.next();
                                if (rs.getDouble(1) != v / 3.0)
                                    throw new IllegalStateException("wrong float for " + v);
                            }
                            c.commit();
                            c.setAutoCommit(true);
                        }
                        if (k % 10 == 5) {
                            try (ResultSet rs = efd.executeQuery()) {
                                rs.next();
                                if (!"3".equals(rs.getString(1)))
                                    throw new IllegalStateException("extra_float_digits = " + rs.getString(1) + " at " + k);
                            }
                        }
                        done.incrementAndGet();
                    }
                } catch (Exception e) {
                    errors.add("thread " + id + ": " + e);
                }
            });
            all.add(th);
            th.start();
        }
        for (Thread th : all)
            th.join();
        if (!errors.isEmpty()) {
            for (String e : errors.subList(0, Math.min(5, errors.size())))
                System.out.println(e);
            System.out.println("errors: " + errors.size());
            System.exit(1);
        }
        System.out.println("ok " + done.get());
    }
}
