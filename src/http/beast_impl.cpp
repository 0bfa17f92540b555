/// The one translation unit that compiles Boost.Beast and Boost.Asio (with Asio's SSL)
/// (BOOST_BEAST_SEPARATE_COMPILATION / BOOST_ASIO_SEPARATE_COMPILATION are PUBLIC defines).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
