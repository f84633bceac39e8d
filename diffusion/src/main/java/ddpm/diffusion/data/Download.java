package ddpm.diffusion.data;

import ddpm.diffusion.ProgressBar;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Fetches a file by URL (http, https or file) into place through a ".part" file, checking its MD5. */
public final class Download {
    private Download() {}

    /**
     * Downloads {@code source} to {@code dest}; when {@code md5} is non-null the digest must match or
     * the partial file is deleted and an IOException says so.
     */
    public static void fetch(URI source, Path dest, String md5, PrintStream log) throws IOException {
        Path parent = dest.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path part = dest.resolveSibling(dest.getFileName() + ".part");
        MessageDigest digest = md5();
        URLConnection c = source.toURL().openConnection();
        c.setConnectTimeout(15_000);
        c.setReadTimeout(60_000);
        if (c instanceof HttpURLConnection h) {
            h.setInstanceFollowRedirects(true);
            int code = h.getResponseCode();
            if (code / 100 != 2) throw new IOException("HTTP " + code + " " + h.getResponseMessage() + " from " + source);
        }
        long length = c.getContentLengthLong();
        log.println("downloading " + source + (length > 0 ? " (" + (length >> 20) + " MiB)" : "") + " to " + dest);
        ProgressBar bar = length > 0 ? new ProgressBar(log, "  download", length >> 10, "KiB") : null;
        try (InputStream in = c.getInputStream(); OutputStream out = Files.newOutputStream(part)) {
            byte[] buf = new byte[1 << 16];
            long sinceTick = 0;
            for (int n; (n = in.read(buf)) >= 0; ) {
                out.write(buf, 0, n);
                digest.update(buf, 0, n);
                sinceTick += n;
                if (bar != null && sinceTick >= 1 << 20) {
                    bar.step(sinceTick >> 10, null);
                    sinceTick &= 1023;
                }
            }
            if (bar != null) bar.step(Long.MAX_VALUE / 2, null);
        } catch (IOException e) {
            Files.deleteIfExists(part);
            throw e;
        }
        String got = HexFormat.of().formatHex(digest.digest());
        if (md5 != null && !got.equalsIgnoreCase(md5)) {
            Files.deleteIfExists(part);
            throw new IOException("downloaded file from " + source + " has MD5 " + got + ", expected " + md5
                    + " (damaged or changed upstream); it was deleted");
        }
        Files.move(part, dest, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The MD5 of a file, in lower-case hex. */
    public static String md5(Path file) throws IOException {
        MessageDigest d = md5();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) >= 0; ) d.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(d.digest());
    }

    private static MessageDigest md5() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
