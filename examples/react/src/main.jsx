import { createRoot } from "react-dom/client";
import App from "./App.jsx";
import "./styles.css";

// No <StrictMode>: in development it mounts twice, and useChat's resume would reconnect twice (and the
// page would create two sessions).
createRoot(document.getElementById("root")).render(<App />);
