// Vite serves this module; the message comes from .env-style variables devstack can inject (VITE_*).
document.getElementById("out").textContent =
  `served by vite on ${location.host} (${import.meta.env.VITE_GREETING ?? "no greeting"})`;
