/** The hosted pages' one stylesheet, served by the Worker (CSP `style-src 'self'`: no inline styles). */
export const STYLESHEET_PATH = "/assets/pages.css";

export const STYLESHEET = `
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;color:#1a1a1a;background:#f4f5f7}
main{max-width:34rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin-top:0}
h2{font-size:1.15rem;margin-top:1.5rem}
form{margin-top:.5rem}
label{display:block;font-weight:600;margin-top:.75rem}
.hint{display:block;font-size:.875rem;color:#555}
input[type=email],input[type=password]{display:block;width:100%;padding:.5rem;margin-top:.25rem;font:inherit;border:1px solid #8a8f98;border-radius:.25rem}
input[aria-invalid=true]{border-color:#b3261e;border-width:2px}
button{margin-top:1rem;padding:.6rem 1.2rem;font:inherit;color:#fff;background:#1f4fd1;border:0;border-radius:.3rem;cursor:pointer}
button:focus-visible,input:focus-visible,a:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
.error-summary{border:2px solid #b3261e;border-radius:.3rem;padding:.75rem 1rem;margin-bottom:1rem;background:#fdecea}
.field-error{display:block;color:#b3261e;font-weight:600}
.notice{padding:.75rem 1rem;background:#eef2fb;border-radius:.3rem}
.mail{border-top:1px solid #ddd;padding:1rem 0}
.metadata dt{font-weight:600}
.metadata dd{margin:0 0 .5rem}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:.5rem;border-radius:.25rem}
`.trim();
