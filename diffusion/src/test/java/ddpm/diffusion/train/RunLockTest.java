package ddpm.diffusion.train;

import ddpm.diffusion.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The run-directory lock: refused while held (in this JVM and from another one), taken over when its owner died, released on close. */
class RunLockTest {
    @TempDir Path tmp;
    final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    final PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);

    String log() { return logBytes.toString(StandardCharsets.UTF_8); }

    @Test void secondOwnerIsRefusedUntilTheFirstLetsGo() throws Exception {
        Path run = tmp.resolve("run");
        long me = ProcessHandle.current().pid();
        try (RunLock a = RunLock.acquire(run, log)) {
            String owner = Files.readString(a.file());
            assertTrue(owner.startsWith("pid=" + me + " host=" + RunLock.host() + " started="), owner);
            UserError e = assertThrows(UserError.class, () -> RunLock.acquire(run, log));
            assertEquals("run directory " + run + " is in use by pid " + me + " on host " + RunLock.host() + " (since "
                    + owner.split("started=")[1].strip() + "): stop that run first, or choose another --run-dir", e.getMessage());
        }
        assertEquals("", Files.readString(run.resolve(RunLock.FILE)), "released: the file is emptied");
        try (RunLock b = RunLock.acquire(run, log)) {
            assertTrue(Files.readString(b.file()).startsWith("pid=" + me));
        }
        assertEquals("", log(), "no note when the lock was free");
    }

    @Test void aLockLeftByADeadProcessIsTakenOverWithANote() throws Exception {
        Process gone = new ProcessBuilder("sh", "-c", "exit 0").start();
        assertTrue(gone.waitFor(30, TimeUnit.SECONDS));
        Path run = Files.createDirectories(tmp.resolve("run"));
        Files.writeString(run.resolve(RunLock.FILE), "pid=" + gone.pid() + " host=" + RunLock.host() + " started=2026-01-01T00:00:00Z\n");
        try (RunLock l = RunLock.acquire(run, log)) {
            assertTrue(Files.readString(l.file()).startsWith("pid=" + ProcessHandle.current().pid()));
        }
        assertEquals("note: " + run + " was locked by pid " + gone.pid() + " on host " + RunLock.host()
                + " (since 2026-01-01T00:00:00Z), which is no longer running; taking it over", log().strip());
    }

    @Test void anotherJvmHoldingTheLockRefusesUsUntilItIsKilled() throws Exception {
        Path run = tmp.resolve("run");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process holder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), Holder.class.getName(), run.toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", out.readLine(), "the second JVM took the lock");
            UserError e = assertThrows(UserError.class, () -> RunLock.acquire(run, log));
            assertTrue(e.getMessage().contains("is in use by pid " + holder.pid() + " on host "), e.getMessage());
            holder.destroyForcibly();   // SIGKILL: no chance to clean up
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
            try (RunLock l = RunLock.acquire(run, log)) {
                assertTrue(log().contains("was locked by pid " + holder.pid() + " on host "), log());
                assertTrue(Files.readString(l.file()).startsWith("pid=" + ProcessHandle.current().pid()));
            }
        } finally {
            holder.destroyForcibly();
        }
    }

    /** Takes the lock, says so, and holds it until killed (or stdin closes). */
    public static final class Holder {
        public static void main(String[] args) throws Exception {
            try (RunLock l = RunLock.acquire(Path.of(args[0]), System.err)) {
                System.out.println("locked");
                System.out.flush();
                System.in.read();
            }
        }
    }
}
