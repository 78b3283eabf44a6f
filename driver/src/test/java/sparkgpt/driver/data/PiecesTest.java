// Where a text may be cut into pieces: GPT-2's tokens of the pieces are the whole text's; pieces cover a file.
package sparkgpt.driver.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PiecesTest {
    // words, contractions, numbers, punctuation, non-ASCII letters and symbols, and whitespace runs of every
    // kind the pre-tokenizer treats apart (a newline alone, blank lines, CRLF, trailing spaces, tabs, NBSP)
    private static final String[] FRAGMENTS = {
            "the", "Hello", "world", "don't", "I'll", "they've", "naïve", "Ελλάδα", "日本語", "😀", "123", "45678",
            ".", ",", "!", "--", "'", "\"", "(", ")", "...", ":", "?!",
            " ", " ", " ", " ", "  ", "\n", "\n", "\n\n", "\r\n", " \n", "\t", "\u00a0", "\n \n"};

    /** A deterministic text of n fragments. */
    static String text(long seed, int n) {
        SplittableRandom random = new SplittableRandom(seed);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) b.append(FRAGMENTS[random.nextInt(FRAGMENTS.length)]);
        return b.toString();
    }

    static char[] concat(char[] a, char[] b) {
        char[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void gpt2TokensOfThePiecesAreTheWholeTexts() {
        // the place that looks right is not: after a newline that a non-space follows, "\n\n" is one chunk
        // at the end of a text but two before a word (golden ids from tiktoken's r50k_base)
        assertArrayEquals(new char[] {15496, 198, 198, 10603}, Tokenizer.GPT2.encode("Hello\n\nWorld"));
        assertArrayEquals(new char[] {15496, 628}, Tokenizer.GPT2.encode("Hello\n\n"));

        String text = text(1, 1500);
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        char[] whole = Tokenizer.GPT2.encode(text);
        int cuts = 0, afterNewline = 0, afterNewlineDiffers = 0;
        for (int p = 1; p < bytes.length; p++) {
            boolean cut = Pieces.isCut(bytes[p - 1] & 0xff, bytes[p] & 0xff);
            boolean naive = bytes[p - 1] == '\n' && !Character.isWhitespace(bytes[p]) && (bytes[p] & 0x80) == 0;
            if (!cut && !naive) continue;
            String head = new String(bytes, 0, p, StandardCharsets.UTF_8), tail = new String(bytes, p, bytes.length - p,
                    StandardCharsets.UTF_8);
            boolean same = Arrays.equals(whole, concat(Tokenizer.GPT2.encode(head), Tokenizer.GPT2.encode(tail)));
            if (cut) {
                assertTrue(same, "a cut at byte " + p + " changes the tokens: ..." + head.substring(Math.max(0, head.length() - 10))
                        + "|" + tail.substring(0, Math.min(10, tail.length())) + "...");
                cuts++;
            } else {
                afterNewline++;
                if (!same) afterNewlineDiffers++;
            }
        }
        assertTrue(cuts > 200, "only " + cuts + " cuts tried");
        assertTrue(afterNewlineDiffers > 0, "no cut after a newline changed the tokens, of " + afterNewline);
    }

    @Test
    void piecesCoverALargeFileAndStartOnlyAtCuts(@TempDir Path dir) throws Exception {
        String text = text(2, 40_000);
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        Path big = Files.write(dir.resolve("big.txt"), bytes);
        Path small = Files.writeString(dir.resolve("small.txt"), "short");
        Configuration conf = new Configuration();
        FileSystem fs = FileSystem.getLocal(conf);
        List<FileStatus> files = List.of(fs.getFileStatus(new org.apache.hadoop.fs.Path(big.toUri())),
                fs.getFileStatus(new org.apache.hadoop.fs.Path(small.toUri())));
        long pieceBytes = 16 << 10;
        List<Pieces.Piece> pieces = Pieces.ofFiles(conf, files, pieceBytes);

        List<Pieces.Piece> ofBig = pieces.stream().filter(p -> p.document() == 0).toList();
        assertTrue(ofBig.size() >= bytes.length / pieceBytes - 1, ofBig.size() + " pieces of " + bytes.length + " bytes");
        long at = 0;
        StringBuilder joined = new StringBuilder();
        for (Pieces.Piece p : ofBig) {
            assertEquals(at, p.from(), "pieces are contiguous");
            assertTrue(p.to() > p.from());
            if (p.from() > 0) {
                assertTrue(Pieces.isCut(bytes[(int) p.from() - 1] & 0xff, bytes[(int) p.from()] & 0xff), "piece starts at " + p.from());
                assertTrue(p.from() - ofBig.get(ofBig.indexOf(p) - 1).from() >= pieceBytes);
            }
            joined.append(new String(Pieces.read(conf, p), StandardCharsets.UTF_8));
            at = p.to();
        }
        assertEquals(bytes.length, at);
        assertEquals(text, joined.toString());
        assertEquals(List.of(new Pieces.Piece(1, files.get(1).getPath().toString(), 0, 5, null)),
                pieces.stream().filter(p -> p.document() == 1).toList());
    }

    @Test
    void groupsAreConsecutiveAndEven() {
        List<Pieces.Piece> pieces = new ArrayList<>();
        for (int i = 0; i < 100; i++) pieces.add(new Pieces.Piece(i, "f" + i, 0, i % 7 == 0 ? 5_000 : 1_000, null));
        List<Pieces.Group> groups = Pieces.group(pieces, 8);
        assertEquals(8, groups.size());
        assertEquals(pieces, groups.stream().flatMap(g -> g.pieces().stream()).toList(), "stream order kept");
        long total = pieces.stream().mapToLong(Pieces.Piece::bytes).sum();
        for (int g = 0; g < groups.size(); g++) {
            assertEquals(g, groups.get(g).index());
            long bytes = groups.get(g).pieces().stream().mapToLong(Pieces.Piece::bytes).sum();
            assertTrue(Math.abs(bytes - total / 8) <= 5_000, "group " + g + ": " + bytes + " of " + total + " bytes");
        }
        // fewer pieces than groups: one piece each
        assertEquals(3, Pieces.group(pieces.subList(0, 3), 8).size());
    }

    @Test
    void everyTaskGetsAsManyPiecesOfAtMost32MiB() {
        long corpus = 401_541_840;
        long bytes = Pieces.pieceBytes(corpus, 8);
        assertTrue(bytes <= Pieces.MAX_PIECE_BYTES, bytes + " bytes");
        assertEquals(16, (corpus + bytes - 1) / bytes);
        assertEquals(1_115_394 / 8 + 1, Pieces.pieceBytes(1_115_394, 8)); // Shakespeare: one piece per task
        assertEquals(Pieces.MIN_PIECE_BYTES, Pieces.pieceBytes(1_000, 8));
    }
}
