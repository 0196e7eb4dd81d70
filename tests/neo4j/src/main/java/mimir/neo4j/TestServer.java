package mimir.neo4j;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Runs Neo4j Community embedded, reachable only over Bolt, for the core's Neo4j store tests.
 *
 * <p>Arguments: the home directory (data, logs) and a neo4j.conf (Bolt address, TLS, memory),
 * both written by start.sh. Authentication stays enabled: the password of the built-in
 * {@code neo4j} user is set from the environment variable NEO4J_TEST_PASSWORD, so the tests
 * exercise the same login a deployment does. Prints one line {@code READY} once Bolt accepts
 * logins, then runs until SIGTERM, which shuts the databases down cleanly.
 */
public final class TestServer {
    private TestServer() {}

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 2) {
            System.err.println("usage: TestServer HOME_DIR NEO4J_CONF");
            System.exit(2);
        }
        String password = System.getenv("NEO4J_TEST_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("NEO4J_TEST_PASSWORD must be set (at least 8 characters)");
            System.exit(2);
        }
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(Path.of(args[0]))
                .loadPropertiesFromFile(Path.of(args[1]))
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            dbms.shutdown();
            stopped.countDown();
        }));
        // Bound parameter: the password never becomes part of the statement text.
        dbms.database("system").executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                Map.of("password", password));
        System.out.println("READY");
        System.out.flush();
        stopped.await();
    }
}
