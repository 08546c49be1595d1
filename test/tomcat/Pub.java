import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** A tiny stateful application for barkeep's Tomcat integration test. */
public class Pub extends HttpServlet {
    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        HttpSession session = req.getSession(true);
        Integer visits = (Integer) session.getAttribute("visits");
        visits = visits == null ? 1 : visits + 1;
        session.setAttribute("visits", visits);
        long size = 0;
        StringBuilder sum = new StringBuilder();
        if ("POST".equals(req.getMethod())) {
            MessageDigest md;
            try {
                md = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IOException(e);
            }
            InputStream in = req.getInputStream();
            byte[] buf = new byte[65536];
            for (int n; (n = in.read(buf)) > 0; size += n) {
                md.update(buf, 0, n);
            }
            for (byte b : md.digest()) {
                sum.append(String.format("%02x", b));
            }
        }
        resp.setContentType("text/plain");
        resp.getWriter().print("route=" + System.getProperty("barkeep.route") + " visit=" + visits
                + " size=" + size + " sha256=" + sum + " remote=" + req.getRemoteAddr()
                + " server=" + req.getServerName());
    }
}
