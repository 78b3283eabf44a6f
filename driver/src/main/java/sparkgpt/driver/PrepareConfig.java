// The keys of `sparkgpt prepare`, with their defaults.
package sparkgpt.driver;

/**
 * @param input       comma-separated files or directories (any Hadoop FileSystem URI)
 * @param output      directory for the shards and meta.json
 * @param format      "text": every file is one document; "europarl": Lucene's europarl.lines.txt(.gz),
 *                    or a jar holding it, whose English lines' bodies are the documents
 * @param tokenizer   "gpt2" (BPE, vocab 50257) or "byte" (UTF-8 bytes, vocab 256)
 * @param valFraction the last valFraction of the token stream becomes the val split
 * @param shardTokens tokens per shard file at most
 */
public record PrepareConfig(String input, String output, String format, String tokenizer, double valFraction,
                            int shardTokens, String master) {

    public static PrepareConfig from(Settings s) {
        PrepareConfig c = new PrepareConfig(
                s.string("input", ""),                            // required: what to tokenize
                s.string("output", ""),                           // required: where the shards go
                s.choice("format", "text", "text", "europarl"),   // a file is a document: llm.c / nanoGPT style
                s.choice("tokenizer", "gpt2", "gpt2", "byte"),    // GPT-2's own BPE, as nanoGPT's prepare.py
                s.real("val_fraction", 0.1),                      // nanoGPT's shakespeare: 90% train, 10% val
                s.integer("shard_tokens", 100_000_000),           // llm.c's fineweb shards hold 100M tokens
                s.string("master", SparkSetup.defaultMaster()));                  // embedded Spark on all local cores
        if (c.input.isEmpty()) throw s.bad("input", "(none)", "a file or directory to tokenize, e.g. --input=data/my.txt");
        if (c.output.isEmpty()) throw s.bad("output", "(none)", "an output directory, e.g. --output=data/my");
        if (!(c.valFraction >= 0 && c.valFraction < 1)) throw s.bad("val_fraction", c.valFraction, "a fraction in [0, 1)");
        if (c.shardTokens <= 0) throw s.bad("shard_tokens", c.shardTokens, "a positive token count");
        return c;
    }
}
