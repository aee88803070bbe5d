// Decodes a snappy-java stream (Firehose's `Snappy` format) with snappy-java's own
// SnappyInputStream and writes the raw bytes to stdout.
// Run: java -cp /usr/share/java/snappy-java.jar SnappyJavaCat.java FILE
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import org.xerial.snappy.SnappyInputStream;

public class SnappyJavaCat {
    public static void main(String[] args) throws Exception {
        try (InputStream in = new SnappyInputStream(new FileInputStream(args[0]))) {
            OutputStream out = System.out;
            in.transferTo(out);
            out.flush();
        }
    }
}
