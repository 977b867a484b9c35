// Stand-in for zod's locale barrel in the deployed bundle (see README.md here): English only.
export { default as en } from "zod/v4/locales/en.js";
