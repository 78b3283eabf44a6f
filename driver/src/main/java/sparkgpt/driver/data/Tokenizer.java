// The two tokenizers prepare offers: GPT-2's BPE (jtokkit's r50k_base) and raw UTF-8 bytes.
package sparkgpt.driver.data;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import java.nio.charset.StandardCharsets;

/** Token ids are stored as uint16 (char); documents are joined by {@link #separator}. */
public enum Tokenizer {
    /** GPT-2 BPE; documents are separated by <|endoftext|> (50256), as GPT-2 was trained. */
    GPT2("gpt2", 50257, 50256),
    /** UTF-8 bytes; documents are separated by a newline byte, since 256 ids leave no spare token. */
    BYTE("byte", 256, '\n');

    public final String key;
    public final int vocabSize;
    public final int separator;

    Tokenizer(String key, int vocabSize, int separator) {
        this.key = key;
        this.vocabSize = vocabSize;
        this.separator = separator;
    }

    public static Tokenizer of(String key) {
        for (Tokenizer t : values()) if (t.key.equals(key)) return t;
        throw new IllegalArgumentException("unknown tokenizer " + key);
    }

    /** The text's token ids; encodeOrdinary: special-token text in the corpus is encoded as plain text. */
    public char[] encode(String text) {
        if (this == BYTE) return encodeUtf8(text.getBytes(StandardCharsets.UTF_8));
        IntArrayList ids = Gpt2.ENCODING.encodeOrdinary(text);
        char[] out = new char[ids.size()];
        for (int i = 0; i < out.length; i++) out[i] = (char) ids.get(i);
        return out;
    }

    /** The token ids of valid UTF-8 text: the bytes themselves (byte), or those of the decoded text (gpt2). */
    public char[] encodeUtf8(byte[] utf8) {
        if (this == GPT2) return encode(new String(utf8, StandardCharsets.UTF_8));
        char[] out = new char[utf8.length];
        for (int i = 0; i < utf8.length; i++) out[i] = (char) (utf8[i] & 0xff);
        return out;
    }

    /**
     * The bytes of one token. GPT-2's tokens are byte sequences that may split a UTF-8 character,
     * so a stream of them is written as bytes and reassembled by whoever reads it. Ids the tokenizer
     * does not have (a padded vocabulary's extra rows) decode to nothing.
     */
    public byte[] decode(int token) {
        if (this == BYTE) return token < 256 ? new byte[] {(byte) token} : new byte[0];
        if (token < 0 || token >= vocabSize) return new byte[0];
        IntArrayList one = new IntArrayList(1);
        one.add(token);
        return Gpt2.ENCODING.decodeBytes(one);
    }

    // jtokkit's encoder is not serializable: one per JVM, loaded on first use (~0.3 s)
    private static final class Gpt2 {
        static final Encoding ENCODING = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    }
}
