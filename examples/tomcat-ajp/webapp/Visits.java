import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;

/** Counts a session's visits and says which Tomcat (jvmRoute) served it. */
public class Visits extends HttpServlet {
    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        HttpSession s = req.getSession(true);
        Integer n = (Integer) s.getAttribute("visits");
        n = n == null ? 1 : n + 1;
        s.setAttribute("visits", n);
        String id = s.getId();
        String route = id.contains(".") ? id.substring(id.indexOf('.') + 1) : "?";
        resp.setContentType("text/plain");
        resp.getWriter().println("route=" + route + " visit=" + n + " secure=" + req.isSecure() + " remote=" + req.getRemoteAddr());
    }
}
