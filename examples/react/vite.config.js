import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `base: "./"` keeps dist/ relocatable: the tests serve it from the root of a throwaway port.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: { outDir: "dist", sourcemap: true },
});
