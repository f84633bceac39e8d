package ddpm.diffusion.train;

import ddpm.diffusion.UserError;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One writer per run directory: an exclusive lock on {@code <run dir>/train.lock}, which holds the
 * owner's "pid=… host=… started=…" while it runs and is emptied when it lets go.
 *
 * <p>The lock itself is the operating system's (an fcntl lock through {@link FileChannel#tryLock}):
 * the OS drops it when its process dies however it dies, so a lock file still holding a pid while
 * no process holds the OS lock was left by a process that is gone, and is taken over with a
 * message. A second process finds the OS lock held and is refused with one line naming the first.
 * Where the file system has no locks, the pid decides: a live process on this host, or any process
 * on another host, keeps the directory; a dead one's file is taken over.
 */
public final class RunLock implements AutoCloseable {
    public static final String FILE = "train.lock";
    private static final Pattern OWNER = Pattern.compile("pid=(\\d+) host=(\\S+)(?: started=(\\S+))?");

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;
    private boolean released;

    private RunLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    /** This process's owner line. */
    static String me() {
        return "pid=" + ProcessHandle.current().pid() + " host=" + host() + " started=" + Instant.now().toString();
    }

    /** This machine's name: $HOSTNAME, the kernel's, or the resolver's (which may be slow, so last). */
    static String host() {
        String h = System.getenv("HOSTNAME");
        try {
            Path k = Path.of("/proc/sys/kernel/hostname");
            if ((h == null || h.isBlank()) && Files.isReadable(k)) h = Files.readString(k);
            if (h == null || h.isBlank()) h = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            // keep what we have
        }
        return h == null || h.isBlank() ? "unknown-host" : h.strip().replaceAll("\\s+", "_");
    }

    /**
     * Takes the lock on {@code dir} (created when missing), printing a note to {@code log} when it
     * takes over a stale one; throws {@link UserError} naming the owner when another process has it.
     */
    public static RunLock acquire(Path dir, PrintStream log) {
        Path f = dir.resolve(FILE);
        FileChannel ch = null;
        try {
            Files.createDirectories(dir);
            ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock l;
            boolean osLocks = true;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;                                  // held by this very process (another Trainer)
            } catch (IOException e) {
                l = null;
                osLocks = false;                           // a file system without locks: the pid decides
            }
            String previous = read(ch).strip();
            if (osLocks && l == null) throw busy(dir, previous);
            if (!osLocks && !previous.isEmpty() && ownerAlive(previous)) throw busy(dir, previous);
            if (!previous.isEmpty())
                log.println("note: " + dir + " was locked by " + describe(previous) + ", which is no longer running; taking it over");
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((me() + "\n").getBytes(StandardCharsets.UTF_8)), 0);
            ch.force(true);
            return new RunLock(f, ch, l);
        } catch (IOException e) {
            close(ch);
            throw new UserError("cannot lock the run directory " + dir + " (" + f.getFileName() + "): " + e.getMessage(), e);
        } catch (RuntimeException e) {
            close(ch);
            throw e;
        }
    }

    private static UserError busy(Path dir, String owner) {
        return new UserError("run directory " + dir + " is in use by " + (owner.isEmpty() ? "another process" : describe(owner))
                + ": stop that run first, or choose another --run-dir");
    }

    /** "pid 1234 on host h (since 2026-…)" from an owner line. */
    static String describe(String owner) {
        Matcher m = OWNER.matcher(owner);
        if (!m.find()) return "'" + owner.lines().findFirst().orElse("") + "'";
        return "pid " + m.group(1) + " on host " + m.group(2) + (m.group(3) != null ? " (since " + m.group(3) + ")" : "");
    }

    /** Without OS locks: whether the owner may still run (alive here, or on another host where we cannot tell). */
    static boolean ownerAlive(String owner) {
        Matcher m = OWNER.matcher(owner);
        if (!m.find()) return true;
        if (!m.group(2).equals(host())) return true;
        return ProcessHandle.of(Long.parseLong(m.group(1))).map(ProcessHandle::isAlive).orElse(false);
    }

    private static String read(FileChannel ch) throws IOException {
        long size = Math.min(ch.size(), 4096);
        ByteBuffer b = ByteBuffer.allocate((int) size);
        while (b.hasRemaining() && ch.read(b, b.position()) >= 0) { }
        return new String(b.array(), 0, b.position(), StandardCharsets.UTF_8);
    }

    private static void close(FileChannel ch) {
        if (ch == null) return;
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing held yet
        }
    }

    public Path file() { return file; }

    /** Empties the lock file and lets go of the lock (idempotent; the file stays, empty, for the next run). */
    @Override public synchronized void close() {
        if (released) return;
        released = true;
        try {
            channel.truncate(0);
            channel.force(true);
        } catch (IOException ignored) {
            // the OS lock below is what matters
        }
        try {
            if (lock != null) lock.release();
        } catch (IOException ignored) {
            // closing the channel releases it too
        }
        close(channel);
    }
}
