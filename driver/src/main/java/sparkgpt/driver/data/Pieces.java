// The corpus as pieces that tokenize independently: whole documents, or parts of a large file cut where
// GPT-2's pre-tokenizer gives the tokens it gives the whole file; and the pieces in groups, one per task.
package sparkgpt.driver.data;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import sparkgpt.driver.config.UserError;

/**
 * The token stream is the pieces' tokens in order, with the separator before every piece that opens a
 * document other than the first: the documents' tokens joined by the separator, as if each document
 * were tokenized whole.
 */
final class Pieces {
    private Pieces() {}

    // a task's memory is a few times its piece (bytes, text, token ids); 32 MiB keeps that near 200 MB
    static final long MAX_PIECE_BYTES = 32L << 20;
    // below this a piece is not worth a seek and a task (a small corpus is not cut into dust)
    static final long MIN_PIECE_BYTES = 64L << 10;

    /**
     * Bytes [from, to) of document's file; for a document read on the driver (a Europarl body), file is
     * null, text is the document and [0, to) its UTF-8 bytes.
     */
    record Piece(long document, String file, long from, long to, String text) implements Serializable {
        static Piece of(long document, String text) {
            return new Piece(document, null, 0, text.getBytes(StandardCharsets.UTF_8).length, text);
        }

        long bytes() {
            return to - from;
        }

        boolean opensDocument() {
            return from == 0;
        }
    }

    /** The pieces one task tokenizes, consecutive in the stream; index orders the tasks' shards. */
    record Group(int index, List<Piece> pieces) implements Serializable {
        /**
         * The group as bytes, one RDD element per task: a closure over the list of groups would ship every
         * group (Europarl's text included) in each task. Java serialization: Kryo cannot read record fields.
         */
        byte[] encode() {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
                out.writeObject(this);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return bytes.toByteArray();
        }

        static Group decode(byte[] bytes) {
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes))) {
                return (Group) in.readObject();
            } catch (IOException | ClassNotFoundException e) {
                throw new IllegalStateException("a prepare task's pieces do not deserialize", e);
            }
        }
    }

    /**
     * Whether a piece may start at byte p of a text: byte p-1 is visible ASCII and byte p is ASCII whitespace.
     * GPT-2's pre-tokenizer ({@code '(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+},
     * r50k) cuts the text, left to right, into chunks that BPE encodes one by one; no match looks behind, and
     * only a whitespace match looks past its end. No chunk runs from a visible character into whitespace, so p
     * is a chunk boundary, and every chunk before p ends where it would at the end of the text, so the text
     * before p gives the same chunks alone. (After a newline is not such a place: "Hello\n\nWorld" is
     * [15496, 198, 198, 10603], "Hello\n\n" alone [15496, 628], since "\n\n" at the end of a text is one chunk.)
     * Both bytes are ASCII, so a cut is also a UTF-8 character boundary.
     */
    static boolean isCut(int before, int at) {
        boolean visible = before > ' ' && before < 0x7f;
        boolean space = at == ' ' || at == '\n' || at == '\r' || at == '\t' || at == 0x0b || at == 0x0c;
        return visible && space;
    }

    /** The first p >= offset where a piece may start ({@link #isCut}), or length when there is none. */
    static long cutAtOrAfter(FSDataInputStream in, long offset, long length) throws IOException {
        if (offset >= length) return length;
        in.seek(offset - 1);
        int before = in.read();
        byte[] buf = new byte[64 << 10];
        long p = offset;
        for (int n; p < length && (n = in.read(buf, 0, (int) Math.min(buf.length, length - p))) > 0; ) {
            for (int i = 0; i < n; i++, p++) {
                int at = buf[i] & 0xff;
                if (isCut(before, at)) return p;
                before = at;
            }
        }
        return length;
    }

    /**
     * The bytes a piece aims at: a task's share of the corpus in as few pieces of at most MAX_PIECE_BYTES as
     * it takes (so every task gets as many pieces: 401.5 MB over 8 tasks is 16 pieces of 25 MB, not 12 of
     * 32 MiB, of which 4 tasks would get 2), and at least MIN_PIECE_BYTES.
     */
    static long pieceBytes(long totalBytes, int tasks) {
        long perTask = ceilDiv(totalBytes, Math.max(1, tasks));
        return Math.max(MIN_PIECE_BYTES, ceilDiv(perTask, ceilDiv(perTask, MAX_PIECE_BYTES)));
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /**
     * Each file's pieces, files in order (file i is document i): a file of up to pieceBytes is one piece, a
     * larger one is cut at the first {@link #isCut} at or after every pieceBytes from its last cut. A file
     * with no such place (one long line without spaces, say) stays one piece.
     */
    static List<Piece> ofFiles(Configuration conf, List<FileStatus> files, long pieceBytes) {
        List<Piece> pieces = new ArrayList<>();
        for (int doc = 0; doc < files.size(); doc++) {
            Path path = files.get(doc).getPath();
            long length = files.get(doc).getLen();
            if (length <= pieceBytes) {
                pieces.add(new Piece(doc, path.toString(), 0, length, null));
                continue;
            }
            try (FSDataInputStream in = path.getFileSystem(conf).open(path)) {
                for (long from = 0; from < length; ) {
                    long to = length - from > pieceBytes ? cutAtOrAfter(in, from + pieceBytes, length) : length;
                    pieces.add(new Piece(doc, path.toString(), from, to, null));
                    from = to;
                }
            } catch (IOException e) {
                throw new UserError("cannot read " + path + ": " + e.getMessage(), e);
            }
        }
        return pieces;
    }

    /**
     * The pieces in at most `groups` consecutive groups of about equal bytes: a piece joins the group its
     * middle byte falls in, when the corpus is cut into `groups` equal spans.
     */
    static List<Group> group(List<Piece> pieces, int groups) {
        long total = Math.max(1, pieces.stream().mapToLong(Piece::bytes).sum());
        List<Group> out = new ArrayList<>();
        List<Piece> current = new ArrayList<>();
        int currentSpan = 0;
        long before = 0;
        for (Piece p : pieces) {
            int span = (int) Math.min(groups - 1, (double) (before + p.bytes() / 2) * groups / total);
            if (span != currentSpan && !current.isEmpty()) {
                out.add(new Group(out.size(), List.copyOf(current)));
                current.clear();
            }
            currentSpan = span;
            current.add(p);
            before += p.bytes();
        }
        if (!current.isEmpty()) out.add(new Group(out.size(), List.copyOf(current)));
        return out;
    }

    /** A piece's UTF-8 bytes, checked; invalid UTF-8 is named by its byte offset in the file. */
    static byte[] read(Configuration conf, Piece piece) {
        if (piece.text() != null) return piece.text().getBytes(StandardCharsets.UTF_8);
        if (piece.bytes() > Integer.MAX_VALUE - 16) {
            throw new UserError(piece.file() + ": no place to cut it into pieces of at most 2 GB in bytes [" + piece.from()
                    + ", " + piece.to() + ") (a piece starts after a visible character, at a space or line break)");
        }
        Path p = new Path(piece.file());
        byte[] bytes = new byte[(int) piece.bytes()];
        try (FSDataInputStream in = p.getFileSystem(conf).open(p)) {
            in.readFully(piece.from(), bytes);
        } catch (IOException e) {
            throw new UserError("cannot read " + piece.file() + ": " + e.getMessage(), e);
        }
        Prepare.checkUtf8(bytes, piece.file(), piece.from());
        return bytes;
    }
}
