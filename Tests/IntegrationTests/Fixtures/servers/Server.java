import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executors;

/**
 * An HTTP server on the JDK's com.sun.net.httpserver with a fixed pool of
 * worker threads. `GET /write?name=N` creates DIR/N, whose content names the
 * thread that wrote it, and answers "ok". Run as a single-file source
 * program: `java Server.java PORT DIR THREADS`. Prints "ready" when it listens.
 */
public class Server {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        Path dir = Path.of(args[1]);
        int threads = Integer.parseInt(args[2]);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        server.createContext("/write", exchange -> handle(exchange, dir));
        server.setExecutor(Executors.newFixedThreadPool(threads));
        server.start();
        System.out.println("ready");
        System.out.flush();
    }

    private static void handle(HttpExchange exchange, Path dir) throws java.io.IOException {
        String query = exchange.getRequestURI().getRawQuery();
        String name = query != null && query.startsWith("name=") ? query.substring(5) : "";
        byte[] reply;
        int status;
        if (name.matches("[A-Za-z0-9-]+")) {
            Files.writeString(dir.resolve(name), name + " thread " + Thread.currentThread().getName() + "\n");
            reply = "ok\n".getBytes(StandardCharsets.UTF_8);
            status = 200;
        } else {
            reply = "bad name\n".getBytes(StandardCharsets.UTF_8);
            status = 400;
        }
        exchange.sendResponseHeaders(status, reply.length);
        try (OutputStream body = exchange.getResponseBody()) {
            body.write(reply);
        }
    }
}
