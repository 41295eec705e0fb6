import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

// A JSSE client: handshakes with host:port using the default trust
// manager (javax.net.ssl.trustStore / trustStoreType / trustStorePassword)
// and hostname verification. Exit 0 on success, 2 on a handshake failure.
public class Client {
    public static void main(String[] args) throws Exception {
        SSLSocketFactory f = (SSLSocketFactory) SSLSocketFactory.getDefault();
        try (SSLSocket s = (SSLSocket) f.createSocket(args[0], Integer.parseInt(args[1]))) {
            SSLParameters p = s.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            s.setSSLParameters(p);
            s.startHandshake();
            System.out.println("HANDSHAKE OK " + s.getSession().getPeerPrincipal());
        } catch (SSLHandshakeException e) {
            System.out.println("HANDSHAKE FAILED " + e.getMessage());
            System.exit(2);
        }
    }
}
