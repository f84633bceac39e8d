package ddpm.diffusion.cli;

import ddpm.diffusion.ProgressBar;
import ddpm.diffusion.UsageException;
import ddpm.diffusion.UserError;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class ArgsTest {
    static Args spec() {
        return new Args("Demo", "A demo.")
                .option("steps", "N", "100", "steps")
                .option("lr", "X", null, "learning rate")
                .option("mode", "M", "a", "a | b")
                .flag("fast", "go fast");
    }

    @Test void parsesBothFormsDefaultsAndSuffixes() {
        Args a = spec();
        assertTrue(a.parse("--steps", "2k", "--lr=3e-4", "--fast"));
        assertEquals(2000, a.getInt("steps", 1, 1_000_000));
        assertEquals(3e-4, a.getDouble("lr", 0, 1), 0);
        assertTrue(a.flag("fast"));
        assertEquals("a", a.getChoice("mode", "a", "b"));
        assertFalse(a.given("mode"));
        Args b = spec();
        b.parse();
        assertEquals(100, b.getInt("steps", 1, 1000));
        assertNull(b.getDouble("lr", 0, 1));
        assertFalse(b.flag("fast"));
    }

    @Test void helpReturnsFalseAndUsageListsEverything() {
        Args a = spec();
        assertFalse(a.parse("--steps", "3", "--help"));
        String u = a.usage();
        assertTrue(u.contains("mvn exec:java -Dmain=Demo -Dexec.args="), u);
        assertTrue(u.contains("--steps N") && u.contains("(default 100)") && u.contains("--fast"), u);
    }

    @Test void errorsNameTheFlagAndWhatWasExpected() {
        UsageException e = assertThrows(UsageException.class, () -> spec().parse("--setps", "3"));
        assertEquals("unknown option --setps (did you mean --steps?)", e.getMessage());
        assertThrows(UsageException.class, () -> spec().parse("steps"));
        e = assertThrows(UsageException.class, () -> spec().parse("--steps"));
        assertTrue(e.getMessage().contains("--steps needs a value"), e.getMessage());
        Args twice = spec();
        twice.parse("--steps", "1", "--steps", "2");
        assertEquals(2, twice.getInt("steps", 0, 9), "the last one wins");
        Args a = spec();
        a.parse("--steps", "ten", "--lr", "nan", "--mode", "c");
        e = assertThrows(UsageException.class, () -> a.getInt("steps", 1, 10));
        assertEquals("--steps: expected an integer in [1, 10], got 'ten'", e.getMessage());
        e = assertThrows(UsageException.class, () -> a.getDouble("lr", 0, 1));
        assertTrue(e.getMessage().startsWith("--lr: expected a number"), e.getMessage());
        e = assertThrows(UsageException.class, () -> a.getChoice("mode", "a", "b"));
        assertEquals("--mode: expected one of a, b, got 'c'", e.getMessage());
        Args r = spec();
        r.parse("--steps", "0");
        e = assertThrows(UsageException.class, () -> r.getInt("steps", 1, Integer.MAX_VALUE));
        assertEquals("--steps: expected an integer >= 1, got 0", e.getMessage());
        assertThrows(UsageException.class, () -> spec().parse("--fast=maybe"));
    }

    @Test void negativeNumbersAreValues() {
        Args a = spec();
        a.parse("--lr", "-1");
        assertEquals(-1, a.getDouble("lr", -5, 5), 0);
    }

    @Test void cliMapsErrorsToExitCodesWithoutStackTraces() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(buf, true, StandardCharsets.UTF_8);
        Args a = spec();
        assertEquals(2, Cli.run(a, err, () -> { a.parse("--bogus"); return 0; }));
        String s = buf.toString(StandardCharsets.UTF_8);
        assertTrue(s.startsWith("Demo: error: unknown option --bogus"), s);
        assertTrue(s.contains("usage:"), s);
        assertFalse(s.contains("at ddpm."), s);
        buf.reset();
        assertEquals(1, Cli.run(a, err, () -> { throw new UserError("no data here"); }));
        assertEquals("Demo: error: no data here" + System.lineSeparator(), buf.toString(StandardCharsets.UTF_8));
        assertEquals(0, Cli.run(a, err, () -> 0));
    }

    @Test void durationsAndProgressLines() {
        assertEquals("59s", ProgressBar.duration(59.4));
        assertEquals("1m05s", ProgressBar.duration(65));
        assertEquals("2h03m", ProgressBar.duration(2 * 3600 + 3 * 60));
        assertEquals("3d04h", ProgressBar.duration(3 * 86400 + 4 * 3600));
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        ProgressBar p = new ProgressBar(new PrintStream(buf, true), "eval", 10, "img", false);
        for (int i = 0; i < 10; i++) p.step(1, "x=" + i);
        String s = buf.toString();
        assertEquals(10, s.lines().count(), s);
        assertTrue(s.lines().reduce((x, y) -> y).orElseThrow().contains("100% 10/10 img"), s);
    }
}
