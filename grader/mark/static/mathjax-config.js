// MathJax 2 (Debian's libjs-mathjax, served from this app): typesets only class="math"
// elements, which the server writes around the answers' $...$; Safe.js refuses \href to
// javascript: and other unsafe TeX. app.js loads MathJax once the first answer is shown; what
// is shown then is typeset when MathJax's start-up ends, later answers as they come (typeset()).
window.MathJax = {
  AuthorInit() {
    window.MathJax.Hub.Register.StartupHook("End", () => {
      window.MathJax.Hub.Queue(["Typeset", window.MathJax.Hub, document.body]); // answer, reference
    });
  },
  skipStartupTypeset: true,
  jax: ["input/TeX", "output/CommonHTML"],
  extensions: ["tex2jax.js", "Safe.js"],
  TeX: { extensions: ["AMSmath.js", "AMSsymbols.js", "noErrors.js", "noUndefined.js"] },
  tex2jax: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: false,
    processClass: "math",
    ignoreClass: "tex2jax_ignore",
  },
  showMathMenu: false,
  messageStyle: "none",
};
