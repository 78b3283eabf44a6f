// A Hadoop Configuration that can travel in a Spark closure (Configuration itself is Writable, not Serializable).
package sparkgpt.driver.data;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import org.apache.hadoop.conf.Configuration;

public final class SerializableConfiguration implements Serializable {
    private transient Configuration conf;

    public SerializableConfiguration(Configuration conf) {
        this.conf = conf;
    }

    public Configuration get() {
        return conf;
    }

    /** The configuration as bytes (its Writable form), for a broadcast. */
    public static byte[] toBytes(Configuration conf) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(bytes)) {
            conf.write(out);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** A configuration from {@link #toBytes}. */
    public static Configuration fromBytes(byte[] bytes) {
        Configuration conf = new Configuration(false);
        try (java.io.DataInputStream in = new java.io.DataInputStream(new java.io.ByteArrayInputStream(bytes))) {
            conf.readFields(in);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return conf;
    }

    private void writeObject(ObjectOutputStream out) throws IOException {
        out.defaultWriteObject();
        conf.write(out);
    }

    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        conf = new Configuration(false);
        conf.readFields(in);
    }
}
